#!/usr/bin/env python3
"""Plot µs against batch, one subplot per vocab size (rows: dtypes), from `samplejit bench --out`
JSON and, optionally, tools/bench/peers.py JSON. One PNG per mode.

    python3 tools/bench/plot.py docs/bench/bench.json --peers docs/bench/peers.json \
        --out docs/bench/plot.png [--modes truncate,sample] [--params fixed] [--dtypes bf16,fp32]

With several modes the mode goes into the file name: plot-truncate.png, plot-sample.png.

Lines per subplot: samplejit (`us`), samplejit CUDA-graph replay (`graph_us`, where measured), the
roofline measured in the same run (`copy_us`, a device copy of the same bytes, for modes that
write the logits; `read_us`, a read-only pass, for sample modes; falls back to `copy_us` when a
file has no `read_us`), and the peers of peers.json where present (sort-vllm, sort-sglang,
flashinfer, flashinfer-scalar). Bench cells may name the vocab and batch `vocab`/`batch` or
`V`/`B`; cells without `params` count as "fixed". Where a cell was timed for several cluster
values, the automatic choice (`requested_cluster` 0) is plotted, else the fastest.
"""
import argparse
import gzip
import json
import math
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

IN_PLACE = {"truncate", "topp", "topk", "sample-inplace"}
PEER_STYLE = {
    "sort-vllm": dict(color="tab:red", marker="s", label="sort (vLLM recipe)"),
    "sort-sglang": dict(color="tab:orange", marker="D", label="sort (SGLang recipe)"),
    "flashinfer": dict(color="tab:green", marker="^", label="FlashInfer"),
    "flashinfer-scalar": dict(color="tab:olive", marker="v", label="FlashInfer (scalar k, p)"),
    "samplejit": dict(color="tab:purple", marker=".", label="samplejit via ctypes (peers run)"),
}


def read_json(path):
    """History files are kept gzipped (.json.gz), as ab.py, summary.py and table.py read them."""
    with (gzip.open if str(path).endswith(".gz") else open)(path, "rt") as f:
        return json.load(f)


def key_of(c):
    v = c.get("V", c.get("vocab"))
    b = c.get("B", c.get("batch"))
    return c.get("mode", "truncate"), c.get("params", "fixed"), c.get("dtype"), v, b


def load_bench(path):
    doc = read_json(path)
    cells = doc["cells"] if isinstance(doc, dict) else doc
    best = {}
    for c in cells:
        if c.get("us") is None:
            continue
        k = key_of(c)
        auto = c.get("requested_cluster", 0) == 0
        have = best.get(k)
        if have is None or (auto, -c["us"]) > (have[0], -have[1]["us"]):
            best[k] = (auto, c)
    return doc if isinstance(doc, dict) else {}, {k: c for k, (_, c) in best.items()}


def load_peers(path):
    doc = read_json(path)
    peers = {}
    for c in doc.get("cells", []):
        if c.get("us") is None:
            continue
        peers.setdefault(c["impl"], {})[key_of(c)] = c["us"]
    return doc, peers


def series(table, mode, params, dtype, vocab, field=None):
    pts = []
    for (m, p, d, v, b), c in table.items():
        if (m, p, d, v) != (mode, params, dtype, vocab):
            continue
        y = c if field is None else c.get(field)
        if y is not None:
            pts.append((b, y))
    return sorted(pts)


def plot_mode(mode, bench, peers, params, dtypes, vocabs, title, out, with_sj_peer):
    rows, cols = len(dtypes), len(vocabs)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False, sharex=True)
    roof_field = "copy_us" if mode in IN_PLACE else "read_us"
    any_data = False
    for r, d in enumerate(dtypes):
        for ci, v in enumerate(vocabs):
            ax = axes[r][ci]
            lines = 0
            sj = series(bench, mode, params, d, v, "us")
            if sj:
                ax.plot(*zip(*sj), color="tab:blue", marker="o", lw=2, label="samplejit")
                lines += 1
            g = series(bench, mode, params, d, v, "graph_us")
            if g:
                ax.plot(*zip(*g), color="tab:blue", ls=":", marker="o", mfc="none", label="samplejit, graph replay")
            roof = series(bench, mode, params, d, v, roof_field)
            roof_label = "roofline: D2D copy" if roof_field == "copy_us" else "roofline: read"
            if not roof and roof_field == "read_us":
                roof = series(bench, mode, params, d, v, "copy_us")
                roof_label = "D2D copy (no read roofline in file)"
            if roof:
                ax.plot(*zip(*roof), color="black", ls="--", lw=1.2, label=roof_label)
            for impl, style in PEER_STYLE.items():
                if impl == "samplejit" and not with_sj_peer:
                    continue
                pts = series(peers.get(impl, {}), mode, params, d, v)
                if pts:
                    kw = dict(style)
                    ax.plot(*zip(*pts), ls="-" if impl != "samplejit" else "-.", lw=1.3, ms=4, **kw)
                    lines += 1
            any_data |= lines > 0
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.grid(True, which="major", alpha=0.35)
            ax.grid(True, which="minor", alpha=0.12)
            ax.set_title(f"{d}, V = {v}", fontsize=10)
            if r == rows - 1:
                ax.set_xlabel("batch")
            if ci == 0:
                ax.set_ylabel("µs per call (median)")
            if not lines:
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
    if not any_data:
        plt.close(fig)
        return False
    batches = sorted({k[4] for t in [bench, *peers.values()] for k in t if k[0] == mode})
    for ax in axes.flat:
        if batches:
            ax.set_xticks(batches)
            ax.set_xticklabels([str(b) for b in batches], fontsize=8)
            ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    handles, labels = {}, []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    fig.legend([handles[lab] for lab in labels], labels, loc="lower center", ncol=min(4, len(labels)),
               frameon=False, fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout(rect=(0, 0.06 + 0.025 * math.ceil(len(labels) / 4), 1, 0.95))
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", help="samplejit bench --out JSON")
    ap.add_argument("--peers", help="tools/bench/peers.py JSON")
    ap.add_argument("--out", default="plot.png")
    ap.add_argument("--modes", default="truncate,sample")
    ap.add_argument("--params", default="fixed")
    ap.add_argument("--dtypes", default="bf16,fp32")
    ap.add_argument("--vocabs", default=None, help="default: every vocab in the files")
    ap.add_argument("--samplejit-peer", action="store_true",
                    help="also draw peers.json's own samplejit (ctypes) timings")
    a = ap.parse_args()

    meta, bench = load_bench(a.bench)
    pdoc, peers = load_peers(a.peers) if a.peers else ({}, {})
    modes = [m for m in a.modes.split(",") if m]
    dtypes = [d for d in a.dtypes.split(",") if d]
    present = {k[3] for t in [bench, *peers.values()] for k in t}
    vocabs = [int(v) for v in a.vocabs.split(",")] if a.vocabs else sorted(v for v in present if v is not None)
    if not vocabs:
        sys.exit("no cells to plot")
    out = pathlib.Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = []
    for mode in modes:
        path = out if len(modes) == 1 else out.with_name(f"{out.stem}-{mode}{out.suffix or '.png'}")
        dev = meta.get("device") or pdoc.get("device") or ""
        roof = "D2D copy" if mode in IN_PLACE else "read-only pass"
        pinfo = (meta.get("params") or pdoc.get("params") or {}).get(a.params)
        if isinstance(pinfo, dict):
            def show(n, v):
                if isinstance(v, list):
                    return f"{n} {v[0]:g}..{v[1]:g}"
                return f"{n}={v:.4g}" if isinstance(v, float) else f"{n}={v}"
            # topp runs with k off and topk with p off, whatever the parameter set holds.
            off = {"topp": "k", "topk": "p"}.get(mode)
            pdesc = ", ".join(show(n, v) if n != off else f"{n} off" for n, v in pinfo.items() if n in ("k", "p"))
        else:
            pdesc = {"fixed": "k=50, p=0.9", "random": "per-row k, p"}.get(a.params, "")
        title = f"mode {mode}, params {a.params}" + (f" ({pdesc})" if pdesc else "") + \
            f"; roofline: {roof}" + (f"; {dev}" if dev else "")
        if plot_mode(mode, bench, peers, a.params, dtypes, vocabs, title, path, a.samplejit_peer):
            written.append(str(path))
        else:
            print(f"note: no {mode}/{a.params} cells for {', '.join(dtypes)}; nothing written", file=sys.stderr)
    for w in written:
        print(w)
    return 0 if written else 1


if __name__ == "__main__":
    sys.exit(main())
