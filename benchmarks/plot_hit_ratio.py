#!/usr/bin/env python3
"""Plots hit ratio vs cache size per policy, one panel per workload.

Reads the JSON lines recall-bench writes (--json or --json-file) and renders a
PNG with gnuplot (Debian's gnuplot-nox; no matplotlib needed):

    python3 benchmarks/plot_hit_ratio.py build/bench-results/harness.jsonl docs/hit_ratio.png
"""

import json
import math
import shutil
import subprocess
import sys

POLICIES = [  # (policy, legend, style)
    ("belady", "Belady (optimal)", "lc rgb '#555555' dt 2 lw 2 pt 1"),
    ("recall", "recall (1 shard)", "lc rgb '#d62728' lw 2 pt 7"),
    ("recall-sharded", "recall (default shards)", "lc rgb '#ff9896' lw 2 pt 6 dt 3"),
    ("lru", "LRU", "lc rgb '#1f77b4' lw 2 pt 5"),
    ("s3-fifo", "S3-FIFO (paper)", "lc rgb '#2ca02c' lw 2 pt 9 dt 4"),
    ("w-tinylfu", "W-TinyLFU (Caffeine)", "lc rgb '#9467bd' lw 2 pt 11 dt 5"),
]


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot_hit_ratio.py HARNESS.jsonl OUTPUT.png")
    source, output = sys.argv[1], sys.argv[2]
    if shutil.which("gnuplot") is None:
        sys.exit("plot_hit_ratio.py: gnuplot not found (apt install gnuplot-nox)")

    rows = []
    with open(source, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                row = json.loads(line)
                if row["kind"] == "hit_ratio":
                    rows.append(row)
    if not rows:
        sys.exit(f"plot_hit_ratio.py: no hit-ratio rows in {source}")

    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    cols = 3 if len(workloads) > 4 else 2
    nrows = math.ceil(len(workloads) / cols)
    script = [
        f"set terminal pngcairo size {480 * cols},{360 * nrows} font 'sans,10'",
        f"set output '{output}'",
        f"set multiplot layout {nrows},{cols} title 'Hit ratio vs cache size (recall-bench)'",
        "set logscale x", "set yrange [0:1.6]", "set ytics 0,0.2,1", "set grid",
        "set key left top maxrows 6 samplen 2 font ',8' spacing 0.8",
        "set ylabel 'hit ratio'",
    ]
    for w in workloads:
        mine = [r for r in rows if r["workload"] == w]
        loop = w.startswith("loop")
        x = (lambda r: r["cache_size"]) if loop else (lambda r: r["cache_pct"])
        script.append(f"set title '{w}' noenhanced")
        script.append("set xlabel '{}'".format(
            "cache size (entries; loop is 1.1x the cache)" if loop else "cache size (% of distinct keys)"))
        plots = []
        for policy, legend, style in POLICIES:
            points = sorted((x(r), r["hit_ratio"]) for r in mine if r["policy"] == policy)
            if not points:
                continue
            block = f"$d{len(script)}_{policy.replace('-', '_')}"
            script.append(f"{block} << EOD")
            script.extend(f"{px} {py}" for px, py in points)
            script.append("EOD")
            plots.append(f"{block} using 1:2 with linespoints {style} title '{legend}'")
        script.append("plot " + ", ".join(plots))
    script.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(script) + "\n", text=True, check=True)
    print(f"plot_hit_ratio.py: wrote {output}")


if __name__ == "__main__":
    main()
