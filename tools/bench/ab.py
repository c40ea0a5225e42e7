"""Same-call A/B of two builds, from `samplejit bench --out` JSON files of alternating rounds.

    python3 tools/bench/ab.py docs/bench/topp-values            # ab-base-*.json[.gz] against ab-new-*.json[.gz]
    python3 tools/bench/ab.py DIR --cells                        # also every cell
    python3 tools/bench/ab.py DIR --base t1-d26 --new t1-fin      # other file prefixes (several arms)
    python3 tools/bench/ab.py --self-test

Each cell's time is the mean over rounds of its median µs. Cells are grouped by mode, parameters,
row class (fp32 or 16-bit; V = 32000 or longer) and batch, and each group prints the geometric
mean, the lowest and the highest new / base ratio. docs/benchmarks.md quotes these ranges.
"""
import argparse
import glob
import gzip
import json
import math
import os
import sys


def load_cells(cells):
    return {(c["mode"], c["params"], c["dtype"], int(c["vocab"]), int(c["batch"])): c for c in cells}


def load(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rt") as f:
        doc = json.load(f)
    return load_cells(doc["cells"] if isinstance(doc, dict) else doc)


def mean_us(rounds, key):
    return sum(r[key]["us"] for r in rounds) / len(rounds)


def group_of(key):
    mode, params, dtype, vocab, batch = key
    return (mode, params, "fp32" if dtype == "fp32" else "16-bit", "V=32000" if vocab == 32000 else "V>32000", batch)


def ratios(base, new):
    """new / base per cell present in every round of both builds."""
    keys = set(base[0])
    for r in base[1:] + new:
        keys &= set(r)
    return {k: mean_us(new, k) / mean_us(base, k) for k in sorted(keys)}


def groups(per_cell):
    out = {}
    for k, r in per_cell.items():
        out.setdefault(group_of(k), []).append(r)
    return {g: (math.exp(sum(map(math.log, v)) / len(v)), min(v), max(v), len(v)) for g, v in sorted(out.items())}


def report(base, new, cells):
    per_cell = ratios(base, new)
    print("| mode | params | rows | V | B | geo mean | min | max | cells |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for (mode, params, rows, vocab, batch), (geo, lo, hi, n) in groups(per_cell).items():
        print(f"| {mode} | {params} | {rows} | {vocab} | {batch} | {geo:.3f} | {lo:.3f} | {hi:.3f} | {n} |")
    if cells:
        print()
        print("| mode | params | dtype | V | B | cluster | base µs | new µs | new / base |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|")
        for k, r in per_cell.items():
            print(f"| {' | '.join(map(str, k))} | {base[0][k].get('cluster', '')} | {mean_us(base, k):.1f} | "
                  f"{mean_us(new, k):.1f} | {r:.3f} |")


def self_test():
    def cell(mode, dtype, vocab, batch, us):
        return {"mode": mode, "params": "fixed", "dtype": dtype, "vocab": vocab, "batch": batch, "us": us}

    base = [load_cells([cell("topp", "bf16", 151936, 256, 100.0), cell("topp", "fp16", 262144, 256, 200.0),
                        cell("topp", "fp32", 32000, 256, 50.0)]),
            load_cells([cell("topp", "bf16", 151936, 256, 110.0), cell("topp", "fp16", 262144, 256, 190.0),
                        cell("topp", "fp32", 32000, 256, 50.0)])]
    new = [load_cells([cell("topp", "bf16", 151936, 256, 84.0), cell("topp", "fp16", 262144, 256, 195.0)]),
           load_cells([cell("topp", "bf16", 151936, 256, 84.0), cell("topp", "fp16", 262144, 256, 195.0)])]
    per_cell = ratios(base, new)
    bad = 0
    # bf16: 84 / 105 = 0.8; fp16: 195 / 195 = 1.0; the fp32 cell is missing from `new` and dropped.
    expected = {("topp", "fixed", "bf16", 151936, 256): 0.8, ("topp", "fixed", "fp16", 262144, 256): 1.0}
    if set(per_cell) != set(expected) or any(abs(per_cell[k] - v) > 1e-12 for k, v in expected.items()):
        print("per-cell ratios:", per_cell)
        bad += 1
    (g, (geo, lo, hi, n)), = groups(per_cell).items()
    if g != ("topp", "fixed", "16-bit", "V>32000", 256) or n != 2 or abs(geo - math.sqrt(0.8)) > 1e-12 or \
            lo != 0.8 or hi != 1.0:
        print("group:", g, geo, lo, hi, n)
        bad += 1
    print("self-test:", "PASS" if bad == 0 else f"FAIL ({bad})")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", help="directory with ab-base-<round>.json and ab-new-<round>.json")
    ap.add_argument("--cells", action="store_true", help="also list every cell")
    ap.add_argument("--base", default="ab-base", help="file prefix of the base rounds (<prefix>-<round>.json[.gz])")
    ap.add_argument("--new", default="ab-new", help="file prefix of the new rounds")
    ap.add_argument("--self-test", action="store_true", help="check the arithmetic on made-up cells")
    a = ap.parse_args()
    if a.self_test:
        sys.exit(self_test())
    if not a.dir:
        ap.error("the directory of the A/B's JSON files is required")
    base_files = sorted(glob.glob(os.path.join(a.dir, f"{a.base}-*.json*")))
    new_files = sorted(glob.glob(os.path.join(a.dir, f"{a.new}-*.json*")))
    if not base_files or not new_files:
        sys.exit(f"ab.py: {a.dir} holds no {a.base}-*.json or no {a.new}-*.json")
    report([load(f) for f in base_files], [load(f) for f in new_files], a.cells)


if __name__ == "__main__":
    main()
