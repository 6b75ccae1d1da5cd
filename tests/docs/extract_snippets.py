#!/usr/bin/env python3
"""Turns the C++ code blocks of a Markdown file into one translation unit.

Every ```cpp block becomes code the doc_snippets target compiles, so an
example in the documentation cannot stop compiling unnoticed:

- a block is namespace-scope code (declarations, a whole program with main);
- a block right after the comment <!-- fragment --> is a list of statements,
  wrapped in a function;
- a block right after <!-- continue --> continues the previous compiled
  block (the same namespace, the same function), so an example may build on
  the one before it;
- a block right after <!-- no-compile --> is skipped (say why in the text).

Each block gets a namespace of its own, and #line directives so that compiler
errors name the Markdown file and line. #include lines are hoisted to the top.
Names the examples take for granted (a warehouse, a request, ...) come from
doc_prelude.hpp.

usage: extract_snippets.py <file.md> <output.cpp>
"""
import re
import sys


def blocks(lines):
    """Yields (marker, first_line_number, code_lines) for each ```cpp block."""
    marker = None
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\n")
        stripped = line.strip()
        comment = re.fullmatch(r"<!--\s*(fragment|continue|no-compile)\b.*-->", stripped)
        if comment:
            marker = comment.group(1)
        elif stripped.startswith("```cpp") or stripped.startswith("```c++"):
            start = i + 2  # 1-based number of the block's first code line
            code = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                code.append(lines[i].rstrip("\n"))
                i += 1
            yield marker, start, code
            marker = None
        elif stripped:
            marker = None
        i += 1


def main():
    source, output = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        lines = f.readlines()
    includes = []
    units = []  # [marker, [(first line, code lines), ...]]
    for marker, start, code in blocks(lines):
        if marker == "no-compile":
            continue
        kept = []
        for line in code:
            if line.lstrip().startswith("#include"):
                includes.append(line.strip())
                kept.append("")
            else:
                kept.append(line)
        if marker == "continue" and units:
            units[-1][1].append((start, kept))
        else:
            units.append([marker, [(start, kept)]])
    body = []
    for marker, parts in units:
        body.append(f"namespace doc_block_{parts[0][0]} {{")
        if marker == "fragment":
            body.append("[[maybe_unused]] void fragment() {")
        for start, kept in parts:
            body.append(f'#line {start} "{source}"')
            body.extend(kept)
        body.append("}}" if marker == "fragment" else "}")
        body.append("")
    with open(output, "w", encoding="utf-8") as f:
        f.write(f"// Generated from {source} by tests/docs/extract_snippets.py.\n")
        if not body:
            return  # no C++ example: nothing to compile
        f.write('#include "doc_prelude.hpp"\n')
        for inc in dict.fromkeys(includes):
            f.write(inc + "\n")
        f.write("\n".join(body) + "\n")


if __name__ == "__main__":
    main()
