"""Same-call A/B of two builds, from `samplejit bench --out` JSON files of alternating rounds.

    python3 tools/bench/ab.py docs/bench/topp-values            # ab-base-*.json[.gz] against ab-new-*.json[.gz]
    python3 tools/bench/ab.py DIR --cells                        # also every cell
    python3 tools/bench/ab.py DIR --base t1-d26 --new t1-fin      # other file prefixes (several arms)
    python3 tools/bench/ab.py DIR --by-kernel                    # groups over modes and parameters
    python3 tools/bench/ab.py --files OLD.json NEW.json --graph   # two grids (one round each)
    python3 tools/bench/ab.py DIR --modes sample,sample-inplace  # only these modes' cells
    python3 tools/bench/ab.py --self-test

Each cell's time is the mean over rounds of its median µs (--graph: its CUDA-graph replay µs where
the bench timed one, B <= 16). Cells are grouped by mode, parameters, row class (fp32 or 16-bit;
V = 32000 or longer) and batch, and each group prints the geometric mean, the lowest and the
highest new / base ratio. --by-kernel groups over modes and parameters instead, by row class and
the kernel the base ran (one CTA per row or a cluster), as the tables of docs/benchmarks.md that
separate the changed kernels from the unchanged ones. docs/benchmarks.md quotes these ranges.
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


def cell_us(c, graph):
    return c["graph_us"] if graph and c.get("graph_us") is not None else c["us"]


def mean_us(rounds, key, graph=False):
    return sum(cell_us(r[key], graph) for r in rounds) / len(rounds)


def group_of(key):
    mode, params, dtype, vocab, batch = key
    return (mode, params, "fp32" if dtype == "fp32" else "16-bit", "V=32000" if vocab == 32000 else "V>32000", batch)


def kernel_group_of(key, cluster):
    _, _, dtype, vocab, batch = key
    kernel = "one CTA" if cluster == 1 else f"{cluster} CTAs" if cluster else "?"
    return ("fp32" if dtype == "fp32" else "16-bit", "V=32000" if vocab == 32000 else "V>32000", kernel, batch)


def ratios(base, new, graph=False):
    """new / base per cell present in every round of both builds."""
    keys = set(base[0])
    for r in base[1:] + new:
        keys &= set(r)
    return {k: mean_us(new, k, graph) / mean_us(base, k, graph) for k in sorted(keys)}


def groups(per_cell, group=group_of):
    out = {}
    for k, r in per_cell.items():
        out.setdefault(group(k), []).append(r)
    return {g: (math.exp(sum(map(math.log, v)) / len(v)), min(v), max(v), len(v)) for g, v in sorted(out.items())}


def report(base, new, cells, graph=False, by_kernel=False):
    per_cell = ratios(base, new, graph)
    if by_kernel:
        print("| rows | V | kernel (base) | B | geo mean | min | max | cells |")
        print("|---|---|---|---:|---:|---:|---:|---:|")
        for g, (geo, lo, hi, n) in groups(per_cell, lambda k: kernel_group_of(k, base[0][k].get("cluster"))).items():
            print(f"| {' | '.join(map(str, g))} | {geo:.3f} | {lo:.3f} | {hi:.3f} | {n} |")
    else:
        print("| mode | params | rows | V | B | geo mean | min | max | cells |")
        print("|---|---|---|---|---:|---:|---:|---:|---:|")
        for (mode, params, rows, vocab, batch), (geo, lo, hi, n) in groups(per_cell).items():
            print(f"| {mode} | {params} | {rows} | {vocab} | {batch} | {geo:.3f} | {lo:.3f} | {hi:.3f} | {n} |")
    if cells:
        print()
        print("| mode | params | dtype | V | B | cluster | base µs | new µs | new / base |")
        print("|---|---|---|---:|---:|---:|---:|---:|---:|")
        for k, r in per_cell.items():
            print(f"| {' | '.join(map(str, k))} | {base[0][k].get('cluster', '')} | {mean_us(base, k, graph):.1f} | "
                  f"{mean_us(new, k, graph):.1f} | {r:.3f} |")


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
    # --by-kernel and --graph: one CTA and a 16-CTA cluster apart; graph replay where timed.
    one = dict(cell("sample", "fp32", 32000, 1, 30.0), cluster=1, graph_us=20.0)
    sixteen = dict(cell("sample", "fp32", 151936, 1, 40.0), cluster=16, graph_us=None)
    one_new, sixteen_new = dict(one, us=33.0, graph_us=21.0), dict(sixteen, us=44.0)
    per_cell = ratios([load_cells([one, sixteen])], [load_cells([one_new, sixteen_new])], graph=True)
    got = groups(per_cell, lambda k: kernel_group_of(k, {32000: 1, 151936: 16}[k[3]]))
    want = {("fp32", "V=32000", "one CTA", 1): 1.05, ("fp32", "V>32000", "16 CTAs", 1): 1.1}
    if set(got) != set(want) or any(abs(got[g][0] - v) > 1e-12 for g, v in want.items()):
        print("by kernel:", got)
        bad += 1
    print("self-test:", "PASS" if bad == 0 else f"FAIL ({bad})")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", help="directory with ab-base-<round>.json and ab-new-<round>.json")
    ap.add_argument("--cells", action="store_true", help="also list every cell")
    ap.add_argument("--base", default="ab-base", help="file prefix of the base rounds (<prefix>-<round>.json[.gz])")
    ap.add_argument("--new", default="ab-new", help="file prefix of the new rounds")
    ap.add_argument("--files", nargs=2, metavar=("BASE", "NEW"), help="two JSON files, one round each (two grids)")
    ap.add_argument("--graph", action="store_true", help="CUDA-graph replay µs where the bench timed it (B <= 16)")
    ap.add_argument("--by-kernel", action="store_true",
                    help="group over modes and parameters by row class and the kernel the base ran")
    ap.add_argument("--modes", help="comma list: only these modes' cells")
    ap.add_argument("--self-test", action="store_true", help="check the arithmetic on made-up cells")
    a = ap.parse_args()
    modes = set(a.modes.split(",")) if a.modes else None

    def load_modes(path):
        try:
            cells = load(path)
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"ab.py: {path}: not a readable bench JSON ({e})")
        kept = {k: c for k, c in cells.items() if modes is None or k[0] in modes}
        if not kept:
            there = ",".join(sorted({k[0] for k in cells})) or "none"
            sys.exit(f"ab.py: --modes {a.modes}: {path} has no cell of these modes (its modes: {there})")
        return kept

    if a.self_test:
        sys.exit(self_test())
    if a.files:
        report([load_modes(a.files[0])], [load_modes(a.files[1])], a.cells, a.graph, a.by_kernel)
        return
    if not a.dir:
        ap.error("the directory of the A/B's JSON files is required")
    base_files = sorted(glob.glob(os.path.join(a.dir, f"{a.base}-*.json*")))
    new_files = sorted(glob.glob(os.path.join(a.dir, f"{a.new}-*.json*")))
    if not base_files or not new_files:
        sys.exit(f"ab.py: {a.dir} holds no {a.base}-*.json or no {a.new}-*.json")
    report([load_modes(f) for f in base_files], [load_modes(f) for f in new_files], a.cells, a.graph, a.by_kernel)


if __name__ == "__main__":
    main()
