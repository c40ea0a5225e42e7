"""Merge `samplejit bench --out` JSON with sort_baseline.py JSON into docs/benchmarks.md tables,
one table per mode."""
import json
import sys

bench = json.load(open(sys.argv[1]))
sort = {(c["dtype"], c["vocab"], c["batch"]): c["sort_us"] for c in json.load(open(sys.argv[2]))}
modes = []
for c in bench["cells"]:
    mode = c.get("mode", "truncate")
    if mode not in modes:
        modes.append(mode)
for mode in modes:
    print(f"\n#### mode `{mode}`\n")
    print("| dtype | V | B | samplejit µs | D2D copy µs | samplejit / copy | sort-based µs | sort / samplejit |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for c in bench["cells"]:
        if c.get("mode", "truncate") != mode:
            continue
        s = sort.get((c["dtype"], c["vocab"], c["batch"]))
        tail = f"{s:.1f} | {s / c['us']:.1f}×" if s else "– | –"
        print(f"| {c['dtype']} | {c['vocab']} | {c['batch']} | {c['us']:.1f} | {c['copy_us']:.1f} | "
              f"{c['us'] / c['copy_us']:.2f} | {tail} |")
