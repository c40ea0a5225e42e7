#!/usr/bin/env python3
"""Warm start in a new process, old binary against new, alternating; with libnvrtc's pages in the
page cache and (posix_fadvise DONTNEED before each probe) evicted, as after a reboot or in a new
container. Usage: probes.py OUTDIR ROUNDS"""
import glob, json, os, statistics, subprocess, sys, time

out, rounds = sys.argv[1], int(sys.argv[2])
bins = [a.split("=", 1) for a in sys.argv[3:]]
root = "/tmp/pw"
specs = ["truncate-bf16-v151936-b512-cauto-nomask-sm_90", "sample-fp32-v32000-b512-cauto-nomask-sm_90"]
env = dict(os.environ, SAMPLEJIT_CACHE_DIR=root)
for s in specs:
    kind, dt, v = s.split("-")[0], s.split("-")[1], s.split("-")[2][1:]
    subprocess.run([bins[0][1], "prewarm", "--arch", "sm_90", "--kind", kind, "--dtype", dt, "--vocab", v,
                    "--mask", "nomask"], env=env, check=True, capture_output=True)
nvrtc = sorted(set(os.path.realpath(p) for p in glob.glob("/usr/local/cuda/lib64/libnvrtc.so*")))
print("libnvrtc files:", nvrtc)

def evict():
    for p in nvrtc:
        fd = os.open(p, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)

def probe(exe, spec):
    t0 = time.monotonic_ns()  # CLOCK_MONOTONIC, as the probe's steady_clock
    r = subprocess.run([exe, "bench-jit-probe", "--spec", spec, "--cache-root", root, "--device", "0",
                        "--t0-ns", str(t0)], capture_output=True, text=True, env=env)
    line = [l for l in r.stdout.splitlines() if l.startswith("{")][-1]
    return json.loads(line)

rows = []
for cold in (False, True):
    for i in range(rounds):
        for name, exe in bins:
            for spec in specs:
                if cold:
                    evict()
                j = probe(exe, spec)
                rows.append({"binary": name, "page_cache": "evicted" if cold else "warm", "round": i, "spec": spec,
                             "prepare_ms": j["steps_ms"]["prepare"], "ready_ms": j["since_spawn_ms"]["ready"],
                             "source": j["source"], "nvrtc_loaded": j.get("nvrtc_loaded")})
json.dump(rows, open(f"{out}/probes.json", "w"), indent=1)
names = [n for n, _ in bins]
print("| page cache | spec | " + " | ".join(f"{n} prepare ms median (min-max)" for n in names) + " | " +
      " | ".join(f"{n} spawn->ready ms median" for n in names) + " | loaded NVRTC |")
print("|---|---|" + "---|" * (2 * len(names) + 1))
for pc in ("warm", "evicted"):
    for spec in specs:
        sel = lambda b, k: [r[k] for r in rows if r["binary"] == b and r["page_cache"] == pc and r["spec"] == spec]
        f = lambda xs: f"{statistics.median(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"
        loaded = ", ".join(f"{n}: {sorted(set(map(str, sel(n, 'nvrtc_loaded'))))}" for n in names)
        print(f"| {pc} | {spec} | " + " | ".join(f(sel(n, "prepare_ms")) for n in names) + " | " +
              " | ".join(f"{statistics.median(sel(n, 'ready_ms')):.1f}" for n in names) + f" | {loaded} |")
