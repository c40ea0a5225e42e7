#!/usr/bin/env python3
"""Peer comparison for issue 4: samplejit (C ABI via ctypes), the sort-based recipes of vLLM and
SGLang (our own PyTorch code), and FlashInfer's sampling ops, timed on the same tensors in one run.

Usage (on the GPU machine, from the repository root, after `cmake --build build`):

    python3 tools/bench/peers.py --lib build/libsamplejit.so --out peers.json [--quick]

FlashInfer travels as wheels in the git-ignored folder `.whl` (see tools/bench/flashinfer_setup.sh,
which builds them on a machine without a GPU). Device command, with `.whl` in the call's carry list:

    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit; \
    PYTHONUNBUFFERED=1 python3 tools/bench/peers.py --lib build/libsamplejit.so --out $OUT/peers.json

The FlashInfer wheel in `.whl` is a repack of flashinfer-python 0.7.2.post1: only the Python
modules that `flashinfer.sampling` and `flashinfer.topk` import, plus the two JIT modules they load
(`sampling`, `topk`), compiled ahead of time for sm_90a with FlashInfer's own generated ninja
files and nvcc 13.0, at the package's AOT path `flashinfer/data/aot/<name>/<name>.so`, which
FlashInfer loads before it considers compiling. This script imports `flashinfer.sampling` with
`flashinfer` and `flashinfer.jit` registered as bare packages, so their `__init__` files (which
import every other FlashInfer feature and its dependencies: CUTLASS DSL, cuDNN frontend, NCCL
bindings, ...) do not run; the sampling functions themselves are FlashInfer's own, unchanged.
FLASHINFER_DISABLE_JIT=1 is set unless --flashinfer-allow-jit is given, so a missing or unloadable
AOT module is reported in the JSON ("flashinfer_error") instead of spending minutes in nvcc.

What each implementation runs, per mode ("truncate" = top-k + top-p mask, "topp", "topk",
"sample" = token with temperature T, top-k, top-p):

* samplejit: sj_truncate (k or p array 0 when off) / sj_sample (temperature, k, p, min_p = 0,
  per-row seed, token32 and logz out: the same outputs as `samplejit bench --mode sample`).
* sort-vllm (vLLM's native recipe, our own code): sort ascending, k-th largest threshold by
  gather, mask below it, softmax (fp32) -> cumsum, mask where cumsum <= 1 - p (last kept), scatter
  back into a new tensor. top-k only: torch.topk(max k) (host sync on max k, as vLLM does) -> k-th
  value -> masked_fill_ in place. sample: logits / T (one fp32 pass) -> the above -> softmax ->
  probs / Exponential(1) noise -> argmax.
* sort-sglang (SGLang's native torch recipe, our own code): sort descending, softmax (fp32),
  cumsum, drop where cumsum - prob > p, drop rank >= k, scatter -inf back into the logits in place
  (top-p on the full distribution, jointly with top-k, as SGLang does). sample: softmax(logits /
  T) -> sort descending -> cumsum -> zero dropped probs -> torch.multinomial -> gather the token.
* flashinfer (flashinfer.sampling, per-row k and p tensors as engines pass them):
  truncate: top_k_mask_logits -> softmax (FlashInfer's, fp32 input: bf16/fp16 are cast first) ->
            top_p_renorm_probs -> logits.masked_fill_(renormed == 0, -inf) (FlashInfer has no
            top-p mask for logits; this is the mask a caller derives from its renorm op);
  topp:     softmax -> top_p_renorm_probs -> logits.masked_fill_(renormed == 0, -inf);
  topk:     top_k_mask_logits (writes a new tensor, not copied back);
  sample:   top_k_top_p_sampling_from_logits(logits / T, k, p, deterministic=True), as vLLM's
            FlashInfer sampler calls it (tensor k: top_k_mask_logits -> softmax ->
            top_p_sampling_from_probs).
* flashinfer-scalar (sample, params fixed only): the same call with int k and float p, which for
  V >= 65536 and k <= 256 takes FlashInfer's radix top-k fast path (the `topk` module).

Timing, per (mode, params, dtype, V, B, impl): warm-up calls, then reps of [untimed restore of the
logits (mask modes; no impl writes the logits in sample mode), 256 MB flush buffer zero_(), CUDA
event, call, CUDA event, synchronize]; the median. Reps: --reps (default 100), except that a
measurement whose rep costs more than --cell-budget-s / reps gets max(--min-reps, budget / rep
cost) reps, and from --deadline-s seconds after the start every remaining measurement gets
--min-reps (marked "deadline": true). The JSON records the reps of each cell. CPU launch overhead
counts where the GPU waits for it, as in an engine without CUDA graphs; the per-rep synchronize
matches `samplejit bench`. The defaults are meant to keep the full grid under 5 minutes on an
H100 (an estimate from the sort timings in docs/benchmarks.md; check "elapsed_s").

Logits: peaked LLM-like rows, an N(-4, 2) body plus 1-8 strong tokens in [8, 14], 64 distinct rows
generated on the GPU from --seed and tiled to B rows. Params "fixed": k = 50, p = 0.9 on every
row; "random": per-row k uniform in [1, 1024], p uniform in [0.5, 1), seeded.

`python3 tools/bench/peers.py --self-test` needs no GPU and no torch: it compiles a C program
against include/samplejit/samplejit.h and checks the ctypes struct layouts against it.
"""
import argparse
import ctypes
import importlib.util
import json
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types

try:
    import torch
except ImportError:  # --self-test needs no torch
    torch = None

REPO = pathlib.Path(__file__).resolve().parents[2]

# ---- samplejit C ABI ------------------------------------------------------------------------

SJ_OK = 0
SJ_DTYPE = {"fp32": 0, "fp16": 1, "bf16": 2}
SJ_MASK_NONE = 0
SJ_KIND_TRUNCATE, SJ_KIND_SAMPLE = 0, 1

u64 = ctypes.c_uint64


class SjKernelDesc(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("dtype", ctypes.c_int),  # enum sj_dtype
        ("vocab", ctypes.c_int64),
        ("block", ctypes.c_int32),
        ("mask", ctypes.c_int),  # enum sj_mask_kind
        ("kind", ctypes.c_int),  # enum sj_kind
        ("cluster", ctypes.c_int32),  # 0 = auto (added in 0.2)
        ("reserved", ctypes.c_int32),
    ]


class SjSampleArgs(ctypes.Structure):
    _fields_ = [
        ("struct_size", ctypes.c_size_t),
        ("logits", u64),
        ("row_stride", ctypes.c_int64),
        ("batch", ctypes.c_int64),
        ("temperature", u64),
        ("top_k", u64),
        ("top_p", u64),
        ("min_p", u64),
        ("seed", u64),
        ("offset", u64),
        ("token32", u64),
        ("token64", u64),
        ("logprob", u64),
        ("raw_logprob", u64),
        ("logz", u64),
        ("kept_count", u64),
        ("valid", u64),
        ("mask", u64),
        ("write_logits", ctypes.c_int32),
        ("kept_ids", u64),
        ("kept_ids_capacity", ctypes.c_int32),
        ("csr_offsets", u64),
        ("csr_ids", u64),
    ]


class SamplejitError(RuntimeError):
    pass


class Samplejit:
    def __init__(self, lib_path, cache_dir):
        self.lib = lib = ctypes.CDLL(str(lib_path))
        vp, i64 = ctypes.c_void_p, ctypes.c_int64
        lib.sj_abi_version.restype = ctypes.c_int
        lib.sj_version.restype = ctypes.c_char_p
        lib.sj_last_error.restype = ctypes.c_char_p
        lib.sj_runtime_create.argtypes = [ctypes.c_char_p, ctypes.POINTER(vp)]
        lib.sj_runtime_create.restype = ctypes.c_int
        lib.sj_runtime_destroy.argtypes = [vp]
        lib.sj_runtime_destroy.restype = None
        lib.sj_prepare.argtypes = [vp, ctypes.POINTER(SjKernelDesc), ctypes.c_int, ctypes.POINTER(vp)]
        lib.sj_prepare.restype = ctypes.c_int
        lib.sj_kernel_release.argtypes = [vp]
        lib.sj_kernel_release.restype = None
        lib.sj_kernel_spec.argtypes = [vp, ctypes.c_char_p, ctypes.c_size_t]
        lib.sj_kernel_spec.restype = ctypes.c_int
        lib.sj_truncate.argtypes = [vp, vp, u64, i64, i64, u64, u64, u64]
        lib.sj_truncate.restype = ctypes.c_int
        lib.sj_sample.argtypes = [vp, vp, ctypes.POINTER(SjSampleArgs)]
        lib.sj_sample.restype = ctypes.c_int
        self.abi = lib.sj_abi_version()
        self.version = lib.sj_version().decode()
        try:  # libraries before the commit stamp lack it
            lib.sj_build_commit.restype = ctypes.c_char_p
            self.build_commit = lib.sj_build_commit().decode()
        except AttributeError:
            self.build_commit = None
        self.rt = vp()
        root = str(cache_dir).encode() if cache_dir else None
        self._check(lib.sj_runtime_create(root, ctypes.byref(self.rt)), "sj_runtime_create")

    def _check(self, status, what):
        if status != SJ_OK:
            raise SamplejitError(f"{what}: status {status}: {self.lib.sj_last_error().decode(errors='replace')}")

    def prepare(self, kind, dtype, vocab, device=0):
        d = SjKernelDesc(ctypes.sizeof(SjKernelDesc), SJ_DTYPE[dtype], vocab, 0, SJ_MASK_NONE, kind, 0)
        k = ctypes.c_void_p()
        self._check(self.lib.sj_prepare(self.rt, ctypes.byref(d), device, ctypes.byref(k)),
                    f"sj_prepare({'sample' if kind else 'truncate'} {dtype} V={vocab})")
        return k

    def spec(self, k):
        buf = ctypes.create_string_buffer(256)
        self._check(self.lib.sj_kernel_spec(k, buf, len(buf)), "sj_kernel_spec")
        return buf.value.decode()

    def truncate(self, k, stream, logits, row_stride, batch, top_k, top_p):
        self._check(self.lib.sj_truncate(k, stream, logits, row_stride, batch, top_k, top_p, 0), "sj_truncate")

    def sample(self, k, stream, args_ref):
        self._check(self.lib.sj_sample(k, stream, args_ref), "sj_sample")


# ---- self-test: ctypes layouts against the header -------------------------------------------

LAYOUT_C = r"""
#include <stdio.h>
#include <stddef.h>
#include "samplejit/samplejit.h"
#define F(T, m) printf("%s %s %zu\n", #T, #m, offsetof(T, m));
int main(void) {
  printf("sj_kernel_desc sizeof %zu\n", sizeof(sj_kernel_desc));
  printf("sj_sample_args sizeof %zu\n", sizeof(sj_sample_args));
  %FIELDS%
  return 0;
}
"""


def self_test(include_dir, cc):
    structs = {"sj_kernel_desc": SjKernelDesc, "sj_sample_args": SjSampleArgs}
    fields = "\n  ".join(f"F({n}, {f})" for n, cls in structs.items() for f, _ in cls._fields_)
    with tempfile.TemporaryDirectory() as tmp:
        src = pathlib.Path(tmp) / "layout.c"
        exe = pathlib.Path(tmp) / "layout"
        src.write_text(LAYOUT_C.replace("%FIELDS%", fields))
        subprocess.run([cc, "-std=c99", "-Wall", "-Werror", f"-I{include_dir}", str(src), "-o", str(exe)], check=True)
        out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    bad = 0
    for line in out.splitlines():
        name, field, value = line.split()
        cls = structs[name]
        mine = ctypes.sizeof(cls) if field == "sizeof" else getattr(cls, field).offset
        ok = mine == int(value)
        bad += not ok
        print(f"{'ok ' if ok else 'BAD'} {name}.{field}: C {value}, ctypes {mine}")
    # Every C field must be in the ctypes struct (a field added to the header shows up here as
    # a size mismatch; a renamed one as a compile error).
    print("self-test:", "PASS" if bad == 0 else f"FAIL ({bad} mismatches)")
    return 0 if bad == 0 else 1


# ---- FlashInfer import ----------------------------------------------------------------------


def import_flashinfer(allow_jit):
    """flashinfer.sampling with `flashinfer` and `flashinfer.jit` as bare packages (their
    __init__ files not run). Returns (module, version, how)."""
    if not allow_jit:
        os.environ.setdefault("FLASHINFER_DISABLE_JIT", "1")
    spec = importlib.util.find_spec("flashinfer")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("flashinfer is not installed (no package on sys.path)")
    root = pathlib.Path(list(spec.submodule_search_locations)[0])
    for name, sub in (("flashinfer", root), ("flashinfer.jit", root / "jit")):
        m = types.ModuleType(name)
        m.__path__ = [str(sub)]
        m.__file__ = str(sub / "__init__.py")
        m.__package__ = name
        sys.modules[name] = m
    import flashinfer.sampling as fs  # noqa: E402
    from flashinfer.version import __version__ as ver
    sys.modules["flashinfer"].sampling = fs
    aot = {n: (root / "data" / "aot" / n / f"{n}.so").exists() for n in ("sampling", "topk")}
    try:
        import importlib.metadata as md
        dist = md.version("flashinfer-python")
    except Exception:  # noqa: BLE001
        dist = "?"
    return fs, ver, f"flashinfer-python {dist}, bare-package import from {root}; AOT modules present: {aot}"


# ---- the peers: x logits [B, V]; k int32 [B] or None (off); p float32 [B] or None (off); t float32 [B]

NINF = float("-inf")


def vllm_top_k_top_p(x, k, p):
    """vLLM's native recipe: returns the masked logits (a new tensor, or x itself for top-k only)."""
    if p is None:
        if k is None:
            return x
        kmax = int(k.max())  # a host sync, as in vLLM's top-k-only path (torch.topk needs an int)
        kth = x.topk(kmax, dim=1).values.gather(1, (k.long() - 1).unsqueeze(1))
        return x.masked_fill_(x < kth, NINF)
    srt, idx = x.sort(dim=-1, descending=False)
    if k is not None:
        kth = srt.gather(1, (srt.size(1) - k.long()).unsqueeze(1))  # the k-th largest
        srt.masked_fill_(srt < kth, NINF)
    cum = srt.softmax(dim=-1, dtype=torch.float32).cumsum_(dim=-1)
    drop = cum <= (1.0 - p).unsqueeze(1)
    drop[:, -1] = False  # the largest always stays
    srt.masked_fill_(drop, NINF)
    return srt.scatter(-1, idx, srt)


def vllm_sample(x, t, k, p):
    y = vllm_top_k_top_p(x / t.unsqueeze(1), k, p)  # fp32, like vLLM's sampler
    probs = y.softmax(dim=-1, dtype=torch.float32)
    noise = torch.empty_like(probs).exponential_()
    return probs.div_(noise).argmax(dim=-1)  # Gumbel-equivalent draw


def sglang_mask(x, k, p):
    """SGLang's native torch recipe (on probabilities there), applied as a logits mask in place."""
    srt, idx = x.sort(dim=-1, descending=True)
    drop = None
    if p is not None:
        probs = srt.softmax(dim=-1, dtype=torch.float32)
        drop = (probs.cumsum(dim=-1) - probs) > p.view(-1, 1)
    if k is not None:
        beyond = torch.arange(srt.size(1), device=srt.device).view(1, -1) >= k.view(-1, 1)
        drop = beyond if drop is None else drop.logical_or_(beyond)
    srt.masked_fill_(drop, NINF)
    return x.scatter_(-1, idx, srt)


def sglang_sample(x, t, k, p):
    probs = torch.softmax(x / t.view(-1, 1), dim=-1)
    ps, pi = probs.sort(dim=-1, descending=True)
    cum = torch.cumsum(ps, dim=-1)
    ps[(cum - ps) > p.view(-1, 1)] = 0.0
    ps[torch.arange(ps.size(1), device=ps.device).view(1, -1) >= k.view(-1, 1)] = 0.0
    pick = torch.multinomial(ps, num_samples=1)
    return torch.gather(pi, 1, pick).view(-1)


def flashinfer_mask(fi, x, k, p):
    if p is None:
        return fi.top_k_mask_logits(x, k)  # a new tensor
    y = fi.top_k_mask_logits(x, k) if k is not None else x
    probs = fi.softmax(y if y.dtype == torch.float32 else y.float())  # FlashInfer's softmax reads fp32
    kept = fi.top_p_renorm_probs(probs, p)
    return x.masked_fill_(kept == 0, NINF)


def flashinfer_sample(fi, x, t, k, p):
    return fi.top_k_top_p_sampling_from_logits(x / t.unsqueeze(1), k, p, deterministic=True)


# ---- the benchmark --------------------------------------------------------------------------

MODES = ("truncate", "topp", "topk", "sample")
PARAMS = ("fixed", "random")
IMPLS = ("samplejit", "sort-vllm", "sort-sglang", "flashinfer", "flashinfer-scalar")
GRID_DTYPES = ("fp32", "bf16", "fp16")
GRID_V = (32000, 128256, 151936, 262144)
GRID_B = (1, 4, 16, 64, 256, 1024, 4096)
QUICK = {"dtypes": ("fp32", "bf16"), "vocabs": (32000, 151936), "batches": (1, 16, 256, 1024),
         "params": ("fixed",)}
FIXED_K, FIXED_P, TEMPERATURE = 50, 0.9, 0.8
DISTINCT_ROWS = 64


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", default=str(REPO / "build" / "libsamplejit.so"), help="libsamplejit.so")
    ap.add_argument("--cache-dir", default=None,
                    help="samplejit cache root (default: $SAMPLEJIT_CACHE_DIR, else the repository's cache/ "
                         "next to the library's build folder, which `samplejit bench` from the build tree uses)")
    ap.add_argument("--out", default=None, help="JSON output path")
    ap.add_argument("--quick", action="store_true",
                    help="subset: fp32,bf16 x V 32000,151936 x B 1,16,256,1024, params fixed")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--params", default=None, help="fixed,random")
    ap.add_argument("--dtypes", default=None)
    ap.add_argument("--vocabs", default=None)
    ap.add_argument("--batches", default=None)
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--reps", type=int, default=100, help="timed reps per measurement (fewer for slow ones)")
    ap.add_argument("--min-reps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--cell-budget-s", type=float, default=0.15,
                    help="wall-clock budget per measurement (restore + flush + call, all reps)")
    ap.add_argument("--deadline-s", type=float, default=240.0,
                    help="seconds since start after which every remaining measurement gets --min-reps")
    ap.add_argument("--flush-mb", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--device", type=int, default=0)
    ap.add_argument("--no-flashinfer", action="store_true")
    ap.add_argument("--flashinfer-allow-jit", action="store_true",
                    help="let FlashInfer compile with nvcc if its AOT module is missing (minutes)")
    ap.add_argument("--self-test", action="store_true",
                    help="no GPU: check the ctypes structs against include/samplejit/samplejit.h and exit")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    a = ap.parse_args()

    if a.self_test:
        rc = self_test(REPO / "include", a.cc)
        try:
            sj = Samplejit(a.lib, None)
            print(f"loaded {a.lib}: ABI {sj.abi}, version {sj.version}")
        except (OSError, SamplejitError) as e:
            print(f"note: could not load {a.lib} ({e})")
        return rc

    t_start = time.perf_counter()
    if torch is None:
        sys.exit("peers.py needs PyTorch (only --self-test runs without it)")

    def csv(s, default, conv=str):
        return tuple(conv(x) for x in s.split(",") if x) if s else default

    q = QUICK if a.quick else {}
    modes = csv(a.modes, MODES)
    params = csv(a.params, q.get("params", PARAMS))
    dtypes = csv(a.dtypes, q.get("dtypes", GRID_DTYPES))
    vocabs = csv(a.vocabs, q.get("vocabs", GRID_V), int)
    batches = tuple(sorted(csv(a.batches, q.get("batches", GRID_B), int)))
    impls = csv(a.impls, IMPLS)
    for name, got, allowed in (("mode", modes, MODES), ("params", params, PARAMS), ("dtype", dtypes, GRID_DTYPES),
                               ("impl", impls, IMPLS)):
        for g in got:
            if g not in allowed:
                ap.error(f"unknown {name} {g!r}; expected one of {', '.join(allowed)}")

    torch.cuda.set_device(a.device)
    torch.cuda.init()
    dev = torch.device("cuda", a.device)
    tdt = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    props = torch.cuda.get_device_properties(dev)
    doc = {
        "device": props.name,
        "sm_count": props.multi_processor_count,
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "torch_dlpack_c_exchange_api": hasattr(torch.Tensor, "__dlpack_c_exchange_api__"),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": os.environ.get("SAMPLEJIT_COMMIT"),
        "reps": a.reps, "min_reps": a.min_reps, "warmup": a.warmup, "cell_budget_s": a.cell_budget_s,
        "deadline_s": a.deadline_s, "flush_bytes": a.flush_mb << 20, "seed": a.seed,
        "temperature": TEMPERATURE,
        "params": {"fixed": {"k": FIXED_K, "p": FIXED_P}, "random": {"k": [1, 1024], "p": [0.5, 1.0]}},
        "workload": f"peaked: N(-4, 2) body plus 1-8 tokens in [8, 14]; {DISTINCT_ROWS} distinct rows, tiled",
        "impl_notes": {
            "samplejit": "sj_truncate / sj_sample (T, k, p, min_p 0, per-row seed; token32 + logz out)",
            "sort-vllm": "sort asc, gather k-th threshold, mask, softmax->cumsum, mask <= 1-p, scatter (new "
                         "tensor); topk mode: torch.topk(max k)+masked_fill_; sample: /T, that, softmax, "
                         "exponential-noise argmax",
            "sort-sglang": "sort desc, softmax, cumsum, drop cumsum-prob > p and rank >= k, scatter_ -inf in "
                           "place; sample: softmax(x/T), sort desc, cumsum, zero, multinomial, gather",
            "flashinfer": "truncate: top_k_mask_logits -> softmax -> top_p_renorm_probs -> masked_fill_(==0); "
                          "topp: softmax -> top_p_renorm_probs -> masked_fill_(==0); topk: top_k_mask_logits "
                          "(new tensor); sample: top_k_top_p_sampling_from_logits(x/T, k tensor, p tensor, "
                          "deterministic=True). softmax and top_p_renorm_probs take fp32: bf16/fp16 are cast",
            "flashinfer-scalar": "sample, params fixed: top_k_top_p_sampling_from_logits(x/T, 50, 0.9) "
                                 "(radix top-k fast path for V >= 65536)",
        },
        "cells": [],
        "errors": [],
        "skipped": [],
    }

    # samplejit
    sj = None
    if "samplejit" in impls:
        cache = a.cache_dir or os.environ.get("SAMPLEJIT_CACHE_DIR")
        if not cache:
            guess = pathlib.Path(a.lib).resolve().parent.parent / "cache"
            cache = str(guess) if guess.is_dir() else None
        try:
            sj = Samplejit(a.lib, cache)
            doc["samplejit"] = {"lib": str(a.lib), "abi": sj.abi, "version": sj.version,
                                "build_commit": sj.build_commit, "cache_root": cache}
            if doc["commit"] is None:  # SAMPLEJIT_COMMIT names another commit; the library's otherwise
                doc["commit"] = sj.build_commit
        except (OSError, SamplejitError) as e:
            doc["samplejit_error"] = str(e)
            print(f"samplejit unavailable: {e}", file=sys.stderr)

    # FlashInfer
    fi = None
    if not a.no_flashinfer and ({"flashinfer", "flashinfer-scalar"} & set(impls)):
        t0 = time.perf_counter()
        try:
            fi, ver, how = import_flashinfer(a.flashinfer_allow_jit)
            doc["flashinfer_version"] = ver
            doc["flashinfer_import"] = how
            # Load the JIT modules now (AOT .so files), outside any timing, and smoke-test them.
            x = torch.randn(2, 1000, device=dev)
            fi.top_k_mask_logits(x, 5)
            fi.top_p_renorm_probs(fi.softmax(x), 0.9)
            fi.top_k_top_p_sampling_from_logits(x, torch.full((2,), 5, device=dev, dtype=torch.int32),
                                                torch.full((2,), 0.9, device=dev))
            torch.cuda.synchronize()
            doc["flashinfer_load_s"] = time.perf_counter() - t0
        except BaseException as e:  # noqa: BLE001 - any failure, including SystemExit from a dependency
            if isinstance(e, KeyboardInterrupt):
                raise
            fi = None
            doc["flashinfer_error"] = f"{type(e).__name__}: {e}"[:4000]
            print(f"FlashInfer unavailable: {doc['flashinfer_error'][:500]}", file=sys.stderr)
        if fi is not None and "flashinfer-scalar" in impls:
            try:  # the radix top-k module (fast path); separate so a failure here keeps the rest
                fi.top_k_top_p_sampling_from_logits(torch.randn(2, 70000, device=dev), 5, 0.9)
                torch.cuda.synchronize()
            except Exception as e:  # noqa: BLE001
                doc["flashinfer_scalar_error"] = f"{type(e).__name__}: {e}"[:4000]
                impls = tuple(i for i in impls if i != "flashinfer-scalar")

    # Per-row parameters, shared by every cell (row r always sees the same k, p).
    maxB = batches[-1]
    g = torch.Generator(device="cpu").manual_seed(a.seed ^ 0x5EED)
    kp = {
        "fixed": (torch.full((maxB,), FIXED_K, dtype=torch.int32), torch.full((maxB,), FIXED_P, dtype=torch.float32)),
        "random": (torch.randint(1, 1025, (maxB,), generator=g, dtype=torch.int32),
                   torch.rand(maxB, generator=g).mul_(0.5).add_(0.5).clamp_(max=1.0 - 2.0 ** -24)
                   .to(torch.float32)),
    }
    kp = {n: (k.to(dev), p.to(dev)) for n, (k, p) in kp.items()}
    temp = torch.full((maxB,), TEMPERATURE, device=dev, dtype=torch.float32)
    min_p = torch.zeros(maxB, device=dev, dtype=torch.float32)
    seeds = torch.arange(maxB, device=dev, dtype=torch.int64)
    tok32 = torch.empty(maxB, device=dev, dtype=torch.int32)
    logz = torch.empty(maxB, device=dev, dtype=torch.float32)
    flush = torch.empty(a.flush_mb << 20, dtype=torch.uint8, device=dev)
    n_ev = max(a.reps, a.min_reps)
    ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n_ev)]
    stream = torch.cuda.current_stream(dev)
    sptr = ctypes.c_void_p(stream.cuda_stream)

    # samplejit kernels, prepared (compiled or loaded from the cache) up front, in parallel.
    kernels = {}
    if sj is not None:
        import concurrent.futures as cf
        t0 = time.perf_counter()
        want = [(kind, d, V) for d in dtypes for V in vocabs
                for kind in ({SJ_KIND_SAMPLE} if "sample" in modes else set())
                | ({SJ_KIND_TRUNCATE} if set(modes) - {"sample"} else set())]

        def prep(w):
            torch.cuda.set_device(a.device)
            return sj.prepare(*w, device=a.device)

        with cf.ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            futs = {w: pool.submit(prep, w) for w in want}
            for w, f in futs.items():
                try:
                    kernels[w] = f.result()
                except SamplejitError as e:
                    doc["errors"].append({"impl": "samplejit", "prepare": list(w), "error": str(e)})
        doc["samplejit_prepare_s"] = time.perf_counter() - t0
        doc.setdefault("samplejit", {})["specs"] = sorted(sj.spec(k) for k in kernels.values())
        print(f"samplejit: {len(kernels)} kernels ready in {doc['samplejit_prepare_s']:.1f} s", file=sys.stderr)

    def make_call(impl, mode, pset, d, V, B, work):
        k, p = kp[pset]
        k, p = k[:B], p[:B]
        if V < 1024:  # off the default grid: keep random k <= V for the sort recipes
            k = k.clamp(max=V)
        if mode == "topp":
            k = None
        if mode == "topk":
            p = None
        if impl == "samplejit":
            if mode == "sample":
                kern = kernels.get((SJ_KIND_SAMPLE, d, V))
                if kern is None:
                    return None
                args = SjSampleArgs(struct_size=ctypes.sizeof(SjSampleArgs), logits=work.data_ptr(),
                                    row_stride=V, batch=B, temperature=temp.data_ptr(), top_k=k.data_ptr(),
                                    top_p=p.data_ptr(), min_p=min_p.data_ptr(), seed=seeds.data_ptr(),
                                    token32=tok32.data_ptr(), logz=logz.data_ptr())
                ref = ctypes.byref(args)
                return lambda: sj.sample(kern, sptr, ref), args
            kern = kernels.get((SJ_KIND_TRUNCATE, d, V))
            if kern is None:
                return None
            lp = work.data_ptr()
            kptr = k.data_ptr() if k is not None else 0
            pptr = p.data_ptr() if p is not None else 0
            return lambda: sj.truncate(kern, sptr, lp, V, B, kptr, pptr), None
        t = temp[:B]
        if impl == "sort-vllm":
            if mode == "sample":
                return lambda: vllm_sample(work, t, k, p), None
            return lambda: vllm_top_k_top_p(work, k, p), None
        if impl == "sort-sglang":
            if mode == "sample":
                return lambda: sglang_sample(work, t, k, p), None
            return lambda: sglang_mask(work, k, p), None
        if impl == "flashinfer":
            if fi is None:
                return None
            if mode == "sample":
                return lambda: flashinfer_sample(fi, work, t, k, p), None
            return lambda: flashinfer_mask(fi, work, k, p), None
        if impl == "flashinfer-scalar":
            if fi is None or mode != "sample" or pset != "fixed":
                return None
            return lambda: flashinfer_sample(fi, work, t, FIXED_K, FIXED_P), None
        return None

    def measure(call, restore, late):
        reps = a.min_reps if late else a.reps
        warm = 1 if late else max(1, a.warmup)
        done, t0 = 0, time.perf_counter()
        while done < warm:
            restore()
            flush.zero_()
            call()
            torch.cuda.synchronize()
            done += 1
            if done == 1 and (time.perf_counter() - t0) * (reps + warm) > a.cell_budget_s:
                break  # a slow call: one warm-up is enough
        rep_s = (time.perf_counter() - t0) / done  # wall cost of one rep: restore + flush + call + sync
        n = reps if rep_s * reps <= a.cell_budget_s else max(a.min_reps, int(a.cell_budget_s / rep_s))
        n = min(n, len(ev))
        us = []
        for i in range(n):
            e0, e1 = ev[i]
            restore()
            flush.zero_()
            e0.record()
            call()
            e1.record()
            e1.synchronize()
            us.append(e0.elapsed_time(e1) * 1000.0)
        return statistics.median(us), n

    def noop():
        pass

    t_timing = time.perf_counter()
    free0, total0 = torch.cuda.mem_get_info(dev)
    n_pairs = len(dtypes) * len(vocabs)
    pair_i = 0
    for d in dtypes:
        esz = torch.empty((), dtype=tdt[d]).element_size()
        for V in vocabs:
            pair_i += 1
            t_pair = time.perf_counter()
            fits = [B for B in batches if 2 * B * V * esz <= 0.4 * free0]
            for B in batches:
                if B not in fits:
                    doc["skipped"].append({"dtype": d, "V": V, "B": B,
                                           "reason": "two logits buffers over 40% of free memory"})
            if not fits:
                continue
            mB = fits[-1]
            gen = torch.Generator(device=dev).manual_seed(a.seed * 1000003 + V)
            rows = min(DISTINCT_ROWS, mB)
            base = torch.randn(rows, V, device=dev, generator=gen).mul_(2.0).sub_(4.0)
            cols = torch.randint(0, V, (rows, 8), device=dev, generator=gen)
            strong = torch.rand(rows, 8, device=dev, generator=gen).mul_(6.0).add_(8.0)
            count = torch.randint(1, 9, (rows, 1), device=dev, generator=gen)
            keep_body = torch.arange(8, device=dev).view(1, 8) >= count  # slots beyond the row's count
            strong = torch.where(keep_body, base.gather(1, cols), strong)
            base.scatter_(1, cols, strong)
            pristine = torch.empty((mB, V), dtype=tdt[d], device=dev)
            pristine[:rows].copy_(base)
            filled = rows
            while filled < mB:  # tile the distinct rows by doubling copies
                n = min(filled, mB - filled)
                pristine[filled:filled + n].copy_(pristine[:n])
                filled += n
            del base, cols, strong, count, keep_body
            work = torch.empty_like(pristine)
            for B in fits:
                src, dst = pristine[:B], work[:B]

                def restore(src=src, dst=dst):
                    dst.copy_(src)

                for mode in modes:
                    for pset in params:
                        for impl in impls:
                            made = make_call(impl, mode, pset, d, V, B, dst)
                            if made is None:
                                continue
                            call, _keep = made
                            late = time.perf_counter() - t_start > a.deadline_s
                            cell = {"mode": mode, "params": pset, "dtype": d, "V": V, "B": B, "impl": impl}
                            try:
                                # sample mode writes no logits in any impl: nothing to restore
                                us, n = measure(call, restore if mode != "sample" else noop, late)
                                cell.update(us=us, reps=n)
                                if late:
                                    cell["deadline"] = True
                                doc["cells"].append(cell)
                            except torch.cuda.OutOfMemoryError as e:
                                torch.cuda.empty_cache()
                                doc["errors"].append({**cell, "error": f"OutOfMemoryError: {str(e)[:300]}"})
                            except Exception as e:  # noqa: BLE001 - record and go on
                                try:
                                    torch.cuda.synchronize()
                                except Exception:  # noqa: BLE001
                                    pass
                                doc["errors"].append({**cell, "error": f"{type(e).__name__}: {str(e)[:1000]}"})
                            finally:
                                del made, call
                line = " ".join(
                    f"{c['mode']}/{c['params'][0]}/{c['impl']}={c['us']:.0f}" for c in doc["cells"]
                    if c["dtype"] == d and c["V"] == V and c["B"] == B)
                print(f"  {d} V={V} B={B}: {line}", file=sys.stderr, flush=True)
            del pristine, work, src, dst
            torch.cuda.empty_cache()
            print(f"[{pair_i}/{n_pairs}] {d} V={V} done in {time.perf_counter() - t_pair:.1f} s "
                  f"({time.perf_counter() - t_start:.1f} s so far)", file=sys.stderr, flush=True)

    doc["elapsed_s"] = time.perf_counter() - t_start
    doc["timing_s"] = time.perf_counter() - t_timing
    print(f"{len(doc['cells'])} cells, {len(doc['errors'])} errors, {len(doc['skipped'])} skipped, "
          f"{doc['elapsed_s']:.1f} s elapsed", file=sys.stderr)
    if a.out:
        pathlib.Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    else:
        print(json.dumps(doc, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
