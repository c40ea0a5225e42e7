"""Render `samplejit bench --out` JSON as the markdown tables of docs/benchmarks.md.

    python3 tools/bench/table.py bench.json [peers.json ...]

One table per (mode, parameter set), then the JIT cost table when the run had `--mode jit`.
Peer files add columns when they hold cells for the table:
  * tools/bench/peers.py output: cells {mode, params, dtype, V, B, impl, us} with impl
    "sort-vllm", "sort-sglang", "sort", "flashinfer", "flashinfer-scalar" or "samplejit" (samplejit
    called through its C ABI from Python). A cell marked "deadline" (timed with fewer reps) gets a *;
  * the older sort_baseline.py output: a list of {dtype, vocab, batch, sort_us}. It only masks
    with k = 50, p = 0.9, so it fills the "sort" column of the fixed-parameter tables.
Bench files written before the parameter sets and the read roofline existed still render: their
cells count as params "fixed" against the copy roofline.
"""
import argparse
import gzip
import json
import sys

PEER_COLUMNS = (("sort", "sort µs"), ("sort-vllm", "sort (vLLM) µs"), ("sort-sglang", "sort (SGLang) µs"),
                ("flashinfer", "FlashInfer µs"), ("flashinfer-scalar", "FlashInfer scalar-k,p µs"),
                ("samplejit", "samplejit (C ABI) µs"))


def load(path):
    with (gzip.open if str(path).endswith(".gz") else open)(path, "rt") as f:
        return json.load(f)


def cell_key(mode, params, dtype, vocab, batch):
    return (mode, params, dtype, int(vocab), int(batch))


def load_peers(paths):
    """(mode, params, dtype, V, B) -> {impl: us}; legacy sort rows use mode None (any masking mode)."""
    peers = {}
    for path in paths:
        doc = load(path)
        cells = doc["cells"] if isinstance(doc, dict) else doc
        for c in cells:
            if "sort_us" in c:  # sort_baseline.py: fixed k/p, a mask only
                key = cell_key(None, "fixed", c["dtype"], c["vocab"], c["batch"])
                peers.setdefault(key, {})["sort"] = (c["sort_us"], False)
                continue
            key = cell_key(c["mode"], c.get("params", "fixed"), c["dtype"], c.get("V", c.get("vocab")),
                           c.get("B", c.get("batch")))
            peers.setdefault(key, {})[c["impl"]] = (c["us"], bool(c.get("deadline")))
    return peers


def peer_times(peers, mode, params, dtype, vocab, batch):
    found = dict(peers.get(cell_key(None, params, dtype, vocab, batch), {}))
    found.update(peers.get(cell_key(mode, params, dtype, vocab, batch), {}))
    return found


def fmt_us(x):
    return "–" if x is None else f"{x:.1f}"


def normalize(c):
    """Fill the fields an older bench file lacks."""
    c = dict(c)
    c.setdefault("mode", "truncate")
    c.setdefault("params", "fixed")
    c["V"] = c.get("vocab", c.get("V"))
    c["B"] = c.get("batch", c.get("B"))
    if "roofline" not in c:
        c["roofline"] = "copy"
        c["ratio"] = c["us"] / c["copy_us"]
    if "gbs" not in c:
        moved = c["V"] * c["B"] * (4 if c["dtype"] == "fp32" else 2) * 2
        c["gbs"] = moved / (c["us"] * 1e3)
    return c


def render_cells(bench, peers, out):
    cells = [normalize(c) for c in bench.get("cells", [])]
    groups = []
    for c in cells:
        g = (c["mode"], c["params"])
        if g not in groups:
            groups.append(g)
    for mode, params in groups:
        rows = [c for c in cells if (c["mode"], c["params"]) == (mode, params)]
        # The concrete cluster is what tells rows apart when several were timed.
        show_cluster = any("cluster" in c for c in rows)
        has_graph = any(c.get("graph_us") is not None for c in rows)
        present = [(impl, title) for impl, title in PEER_COLUMNS
                   if any(impl in peer_times(peers, mode, params, c["dtype"], c["V"], c["B"]) for c in rows)]
        roof = ", ".join(sorted({"D2D copy" if c["roofline"] == "copy" else "read-only" for c in rows}))
        out.write(f"\n#### mode `{mode}`, {params} parameters (roofline: {roof})\n\n")
        head = ["dtype", "V", "B"] + (["cluster"] if show_cluster else []) + ["samplejit µs"]
        head += ["graph µs"] if has_graph else []
        head += ["roofline µs", "samplejit / roofline", "GB/s"]
        head += [title for _, title in present]
        head += ["best peer / samplejit"] if any(impl != "samplejit" for impl, _ in present) else []
        out.write("| " + " | ".join(head) + " |\n")
        out.write("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|\n")
        starred = False
        for c in rows:
            roof_us = c["copy_us"] if c["roofline"] == "copy" else c.get("read_us")
            line = [c["dtype"], str(c["V"]), str(c["B"])]
            line += [str(c.get("cluster", "–"))] if show_cluster else []
            line += [fmt_us(c["us"])]
            line += [fmt_us(c.get("graph_us"))] if has_graph else []
            line += [f"{fmt_us(roof_us)} ({c['roofline']})", f"{c['ratio']:.2f}", f"{c['gbs']:.0f}"]
            times = peer_times(peers, mode, params, c["dtype"], c["V"], c["B"])
            line += [fmt_us(times[impl][0]) + ("*" if times[impl][1] else "") if impl in times else "–"
                     for impl, _ in present]
            starred = starred or any(times[impl][1] for impl, _ in present if impl in times)
            if "best peer / samplejit" in head:
                others = [times[i][0] for i in times if i != "samplejit"]
                line += [f"{min(others) / c['us']:.1f}×" if others else "–"]
            out.write("| " + " | ".join(line) + " |\n")
        if starred:
            out.write("\n\\* timed with fewer reps: peers.py reached its deadline.\n")


def render_jit(jit, out):
    if not jit:
        return
    out.write(f"\n#### JIT cost (NVRTC {jit.get('nvrtc', '?')})\n\n")
    out.write("| spec | cold compile s | warm in-process ms | child prepare ms | spawn → ready ms "
              "| spawn → first launch ms | child wall ms |\n|---|---:|---:|---:|---:|---:|---:|\n")
    for v in jit.get("variants", []):
        p = v.get("process", {})
        since, steps = p.get("since_spawn_ms", {}), p.get("steps_ms", {})

        def ms(x):
            return "–" if x is None else f"{x:.1f}"

        out.write(f"| {v['spec']} | {v['cold_s']:.2f} | {v['warm_ms']:.2f} | {ms(steps.get('prepare'))} | "
                  f"{ms(since.get('ready'))} | {ms(since.get('first_launch'))} | {ms(p.get('wall_ms'))} |\n")
        if "error" in p:
            out.write(f"\n(probe for {v['spec']} failed: {p['error']})\n\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bench", help="samplejit bench --out JSON")
    ap.add_argument("peers", nargs="*", help="peers.py or sort_baseline.py JSON")
    args = ap.parse_args()
    bench = load(args.bench)
    out = sys.stdout
    head = [f"device {bench.get('device', '?')}"]
    for key in ("date", "commit", "reps", "flush_bytes"):
        if bench.get(key) is not None:
            head.append(f"{key} {bench[key]}")
    out.write("<!-- " + "; ".join(head) + " -->\n")
    render_cells(bench, load_peers(args.peers), out)
    render_jit(bench.get("jit"), out)
    for s in bench.get("skipped", []):
        what = s.get("spec") or f"{s.get('dtype')} V={s.get('vocab')} B={s.get('batch')}"
        out.write(f"\n* skipped {what}: {s.get('reason')}")
    if bench.get("skipped"):
        out.write("\n")


if __name__ == "__main__":
    main()
