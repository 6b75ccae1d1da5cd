#!/usr/bin/env python3
"""A cache hit done the way Streamlit's st.cache_data does it, timed here.

st.cache_data hashes the function's argument name/value pairs into a key
(pickle-based hashing fed to a hashlib digest), looks the key up in a dict of
pickled results, and unpickles a fresh copy for every caller so callers can
mutate what they get. This script repeats exactly those steps on the value
shape the C++ benchmarks use (a str and 128 floats, about 1 KiB), with the
Python standard library only, so the ratio to recall's cache_data hit is
measured on the same machine instead of quoted.

    python3 benchmarks/streamlit_hit.py            # median ns per hit
    python3 benchmarks/streamlit_hit.py --json     # one JSON object
"""

import argparse
import hashlib
import json
import pickle
import platform
import statistics
import timeit


def make_key(func_name, args):
    """Hashes (name, value) pairs with blake2b over their pickles."""
    h = hashlib.blake2b(digest_size=16)
    h.update(func_name.encode())
    for name, value in args.items():
        h.update(name.encode())
        h.update(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
    return h.hexdigest()


def make_sales_row():
    """The shape of benchmarks/bench_types.hpp's sales_row."""
    return {"region": "EU-west", "values": [0.5 * i for i in range(128)]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="timing runs (median reported)")
    parser.add_argument("--number", type=int, default=20000, help="hits per timing run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    opts = parser.parse_args()
    if opts.repeats < 1 or opts.number < 1:
        parser.error("--repeats and --number must be positive")

    store = {}
    days = 1024
    row = make_sales_row()
    for day in range(days):
        store[make_key("load_sales", {"region": "EU-west", "day": day})] = pickle.dumps(
            row, protocol=pickle.HIGHEST_PROTOCOL)

    state = {"day": 0}

    def hit():
        day = state["day"]
        state["day"] = (day + 1) % days
        key = make_key("load_sales", {"region": "EU-west", "day": day})
        return pickle.loads(store[key])

    if hit() != row:
        raise SystemExit("streamlit_hit.py: the cached copy differs from the stored value")

    runs = timeit.repeat(hit, repeat=opts.repeats, number=opts.number)
    per_hit_ns = [1e9 * r / opts.number for r in runs]
    median = statistics.median(per_hit_ns)
    if opts.json:
        print(json.dumps({
            "name": "streamlit_style_cache_data_hit",
            "python": platform.python_version(),
            "repeats": opts.repeats,
            "number": opts.number,
            "median_ns": round(median, 1),
            "min_ns": round(min(per_hit_ns), 1),
            "max_ns": round(max(per_hit_ns), 1),
            "value_bytes": len(store[make_key("load_sales", {"region": "EU-west", "day": 0})]),
        }))
    else:
        print(f"Streamlit-style cache_data hit (Python {platform.python_version()}): "
              f"median {median:.0f} ns per hit over {opts.repeats} runs of {opts.number} "
              f"(min {min(per_hit_ns):.0f}, max {max(per_hit_ns):.0f})")


if __name__ == "__main__":
    main()
