"""Summaries of docs/benchmarks.md from `samplejit bench --out` and peers.py JSON.

    python3 tools/bench/summary.py bench.json peers.json [--previous old_bench.json]
    python3 tools/bench/summary.py --self-test

Prints markdown: the roofline ratio at B >= 64 per (mode, params), the B = 1 graph-replay time
per V (max over dtypes), the peer comparison per (mode, params) with every cell that a peer wins,
and with --previous, every cell more than 5% slower than the previous table (regressions).
samplejit's own column is `samplejit bench`; the peers come from peers.py on the same card.
"""
import argparse
import gzip
import json
import statistics
import sys


def load_cells(path):
    with (gzip.open if str(path).endswith(".gz") else open)(path, "rt") as f:
        doc = json.load(f)
    return doc["cells"] if isinstance(doc, dict) else doc


def ours(cells):
    return {(c["mode"], c["params"], c["dtype"], int(c["vocab"]), int(c["batch"])): c for c in cells
            if int(c.get("requested_cluster", 0)) == 0}


def peers_of(cells):
    out = {}
    for c in cells:
        out.setdefault((c["mode"], c["params"], c["dtype"], int(c["V"]), int(c["B"])), {})[c["impl"]] = c["us"]
    return out


def modes_in(mine):
    seen = []
    for key in mine:
        if (key[0], key[1]) not in seen:
            seen.append((key[0], key[1]))
    return seen


def roofline_table(mine):
    print("| mode | params | min | median | max |")
    print("|---|---|---:|---:|---:|")
    for mode, params in modes_in(mine):
        r = [c["ratio"] for k, c in mine.items() if k[:2] == (mode, params) and k[4] >= 64]
        if r:
            print(f"| {mode} | {params} | {min(r):.2f} | {statistics.median(r):.2f} | {max(r):.2f} |")


def batch1_table(mine):
    vocabs = sorted({k[3] for k in mine})
    print("| mode | params | " + " | ".join(f"V={v}" for v in vocabs) + " |")
    print("|---|---|" + "---:|" * len(vocabs))
    for mode, params in modes_in(mine):
        row = []
        for v in vocabs:
            g = [c.get("graph_us") or c["us"] for k, c in mine.items()
                 if k[:2] == (mode, params) and k[3] == v and k[4] == 1]
            row.append(f"{max(g):.1f}" if g else "–")
        print(f"| {mode} | {params} | " + " | ".join(row) + " |")


def peer_tables(mine, peers):
    losses = []
    print("| mode | params | cells | slower than sort (vLLM/SGLang) | slower than FlashInfer "
          "| samplejit / FlashInfer (min – max) |")
    print("|---|---|---:|---:|---:|---|")
    for mode, params in modes_in(mine):
        n = slow_sort = slow_fi = 0
        ratios = []
        for key, p in peers.items():
            if key[:2] != (mode, params) or key not in mine:
                continue
            us = mine[key]["us"]
            n += 1
            sort = [p[i] for i in ("sort-vllm", "sort-sglang") if i in p]
            if sort and us > min(sort):
                slow_sort += 1
                losses.append((key, us, min(sort), "sort"))
            fi = [(p[i], i) for i in ("flashinfer", "flashinfer-scalar") if i in p]
            if fi:
                best, which = min(fi)
                ratios.append(us / best)
                if us > best:
                    slow_fi += 1
                    losses.append((key, us, best, which))
        if n:
            span = f"{min(ratios):.2f} – {max(ratios):.2f}" if ratios else "–"
            print(f"| {mode} | {params} | {n} | {slow_sort} | {slow_fi} | {span} |")
    print()
    print("Cells a peer wins:")
    print()
    print("| mode | params | dtype | V | B | samplejit µs | peer µs | peer | samplejit / peer |")
    print("|---|---|---|---:|---:|---:|---:|---|---:|")
    for key, us, best, which in losses:
        row = " | ".join(str(x) for x in key)
        print(f"| {row} | {us:.1f} | {best:.1f} | {which} | {us / best:.2f} |")


def regressions(mine, previous):
    print("| mode | params | dtype | V | B | previous µs | now µs | now / previous |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for key, c in mine.items():
        old = previous.get(key)
        if old and c["us"] > 1.05 * old["us"]:
            row = " | ".join(str(x) for x in key)
            print(f"| {row} | {old['us']:.1f} | {c['us']:.1f} | {c['us'] / old['us']:.2f} |")


def self_test():
    """Checks the tables on a hand-made grid whose answers are known."""
    import contextlib
    import io

    def cell(mode, dtype, batch, us, ratio, graph=None):
        return {"mode": mode, "params": "fixed", "dtype": dtype, "vocab": 32000, "batch": batch, "us": us,
                "ratio": ratio, "graph_us": graph, "requested_cluster": 0}

    mine = ours([cell("truncate", "fp32", 1, 30.0, 7.0, 29.0), cell("truncate", "bf16", 1, 33.0, 8.0, 31.5),
                 cell("truncate", "fp32", 64, 40.0, 3.0), cell("truncate", "fp32", 256, 90.0, 5.0),
                 cell("truncate", "bf16", 256, 80.0, 4.0),
                 dict(cell("truncate", "fp32", 256, 1.0, 99.0), requested_cluster=4)])  # not auto: ignored
    previous = ours([cell("truncate", "fp32", 64, 38.0, 3.0), cell("truncate", "fp32", 256, 86.9, 5.0)])
    timed = (("sort-vllm", 500.0), ("flashinfer", 20.0), ("flashinfer-scalar", 25.0))
    peers = peers_of([{"mode": "truncate", "params": "fixed", "dtype": "fp32", "V": 32000, "B": 64, "impl": i,
                       "us": us} for i, us in timed])
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        roofline_table(mine)
        batch1_table(mine)
        peer_tables(mine, peers)
        regressions(mine, previous)
    text = out.getvalue()
    expected = [
        "| truncate | fixed | 3.00 | 4.00 | 5.00 |",  # B >= 64 only, auto cells only
        "| truncate | fixed | 31.5 |",  # B = 1: graph replay, max over dtypes
        "| truncate | fixed | 1 | 0 | 1 | 2.00 – 2.00 |",  # one peer cell: sort loses, FlashInfer wins
        "| truncate | fixed | fp32 | 32000 | 64 | 40.0 | 20.0 | flashinfer | 2.00 |",
        "| truncate | fixed | fp32 | 32000 | 64 | 38.0 | 40.0 | 1.05 |",  # 5.3% slower: listed
    ]
    missing = [e for e in expected if e not in text]
    unexpected = [u for u in ("| 86.9 |", "| 99.00 |") if u in text]  # 3.6% slower; a non-auto cell
    if missing or unexpected:
        print(text)
        print("missing:", missing, "unexpected:", unexpected)
        return 1
    print("summary self-test: ok")
    return 0


def main():
    if "--self-test" in sys.argv[1:]:
        return self_test()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench")
    ap.add_argument("peers")
    ap.add_argument("--previous", help="an earlier bench JSON, for the regression table")
    args = ap.parse_args()
    mine = ours(load_cells(args.bench))
    print("### Roofline ratio, B >= 64 (min / median / max)\n")
    roofline_table(mine)
    print("\n### B = 1 (CUDA-graph replay µs, max over dtypes)\n")
    batch1_table(mine)
    print("\n### Against the peers\n")
    peer_tables(mine, peers_of(load_cells(args.peers)))
    if args.previous:
        print("\n### Cells more than 5% slower than the previous table\n")
        regressions(mine, ours(load_cells(args.previous)))


if __name__ == "__main__":
    raise SystemExit(main())
