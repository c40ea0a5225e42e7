# FlashInfer for tools/bench/peers.py on the GPU machine, which has no internet and where a cold
# FlashInfer JIT build of its sampling kernels would spend minutes of device time in nvcc.
#
#   bash tools/bench/flashinfer_setup.sh build     # here: no GPU needed; fills .whl/ (git-ignored)
#   . tools/bench/flashinfer_setup.sh install      # on the device, sourced: installs .whl/*.whl
#                                                  # into /tmp/site and exports PYTHONPATH
#
# `build` needs python3 >= 3.10 with pip and venv, the CUDA 13.0 toolkit (nvcc; CUDA_HOME, default
# /usr/local/cuda), a C++ compiler, ninja, and internet access to PyPI. It
#   1. downloads flashinfer-python 0.7.2.post1, apache-tvm-ffi (cp312, manylinux) and nvidia-ml-py;
#   2. writes FlashInfer's own build.ninja files for its `sampling` and `topk` JIT modules (the two
#      that flashinfer.sampling loads) with FLASHINFER_CUDA_ARCH_LIST=9.0 (sm_90a), through
#      flashinfer.jit itself; torch is not installed here, so a stand-in module answers the three
#      things ninja generation asks of it (C++11 ABI = 1, CUDA 13.0, no devices);
#   3. runs those ninja files (nvcc 13.0; on 2 cores: sampling 5.5 min, topk 47 min, most of it
#      the single translation unit csrc/cub_topk.cu, so more cores barely help);
#   4. repacks the 62 MB wheel as flashinfer_python-0.7.2.post1+sm90a.sampling: the Python modules
#      that flashinfer.sampling and flashinfer.topk import (a static walk of their imports), the
#      two .so files at FlashInfer's AOT path flashinfer/data/aot/<name>/<name>.so (loaded before
#      any JIT is considered), and the headers and sources those two builds read (from ninja's
#      dependency log), so that `peers.py --flashinfer-allow-jit` could still rebuild there.
# Nothing of FlashInfer's code is changed; peers.py imports flashinfer.sampling without running
# flashinfer/__init__.py (see its docstring).
#
# Environment: FI_WORK (scratch, default /tmp/fi-aot), MAX_JOBS (ninja -j), CUDA_HOME, PYTHON.

FI_VERSION=0.7.2.post1
FI_LOCAL=sm90a.sampling

fi_install() {
  # Device side. Run from the repository root with .whl in the call's carry list.
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
}

fi_build() (
  set -euo pipefail
  root=$(git rev-parse --show-toplevel)
  work=${FI_WORK:-/tmp/fi-aot}
  py=${PYTHON:-python3}
  export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
  mkdir -p "$work/dl" "$root/.whl"
  grep -qxF '/.whl/' "$root/.git/info/exclude" 2>/dev/null || echo '/.whl/' >>"$root/.git/info/exclude"

  plat=(--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
        --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
  dl() { "$py" -m pip download -q --no-deps --only-binary=:all: "${plat[@]}" -d "$work/dl" "$@"; }
  dl "flashinfer-python==$FI_VERSION"
  dl "apache-tvm-ffi>=0.1.11,<0.2"
  dl nvidia-ml-py
  fi_whl=$(ls "$work"/dl/flashinfer_python-"$FI_VERSION"-*.whl)
  tvm_whl=$(ls "$work"/dl/apache_tvm_ffi-*.whl | sort -V | tail -1)
  tvm_ver=$(basename "$tvm_whl" | cut -d- -f2)

  # A host venv with the same tvm-ffi (headers, and the module flashinfer.jit imports).
  [ -x "$work/venv/bin/python" ] || "$py" -m venv "$work/venv"
  "$work/venv/bin/pip" install -q "apache-tvm-ffi==$tvm_ver" filelock packaging

  rm -rf "$work/src" && mkdir -p "$work/src" && (cd "$work/src" && unzip -q "$fi_whl")

  # torch stand-in for ninja generation only (flashinfer.jit.cpp_ext / compilation_context).
  mkdir -p "$work/stub/torch/utils"
  cat >"$work/stub/torch/__init__.py" <<'EOF'
import types
class _C:
    _GLIBCXX_USE_CXX11_ABI = True  # torch 2.11 wheels: the C++11 ABI
version = types.SimpleNamespace(cuda="13.0")
class _Cuda:
    @staticmethod
    def device_count(): return 0
    @staticmethod
    def is_available(): return False
cuda = _Cuda()
def __getattr__(name):  # dtypes and annotations: opaque placeholders
    obj = type(name, (), {})()
    globals()[name] = obj
    return obj
EOF
  : >"$work/stub/torch/utils/__init__.py"
  printf 'def get_cxx_compiler(): return "c++"\ndef check_compiler_is_gcc(c): return True\n' \
    >"$work/stub/torch/utils/cpp_extension.py"
  cat >"$work/gen.py" <<'EOF'
import pathlib, sys, types
import tvm_ffi, filelock  # noqa: F401  (the real ones, before the torch stand-in is on the path)
stub, root = sys.argv[1], pathlib.Path(sys.argv[2])
sys.path[:0] = [stub, str(root)]
for name, sub in (("flashinfer", root / "flashinfer"), ("flashinfer.jit", root / "flashinfer" / "jit")):
    m = types.ModuleType(name); m.__path__ = [str(sub)]; sys.modules[name] = m
from flashinfer.jit.sampling import gen_sampling_module
from flashinfer.jit.topk import gen_topk_module
for gen in (gen_sampling_module, gen_topk_module):
    spec = gen()
    spec.write_ninja()
    print(spec.name, spec.build_dir)
EOF
  ws="$work/ws"
  FLASHINFER_WORKSPACE_BASE="$ws" FLASHINFER_CUDA_ARCH_LIST="9.0" \
    "$work/venv/bin/python" "$work/gen.py" "$work/stub" "$work/src" >"$work/modules.txt"
  while read -r name dir; do
    echo "building FlashInfer module $name (sm_90a) in $dir"
    t0=$(date +%s)
    ninja -C "$dir" -f "$dir/build.ninja" ${MAX_JOBS:+-j "$MAX_JOBS"}
    echo "  $name: $(( $(date +%s) - t0 )) s"
    ninja -C "$dir" -f "$dir/build.ninja" -t deps >"$dir/deps.txt"
  done <"$work/modules.txt"

  cat >"$work/repack.py" <<'EOF'
import ast, base64, hashlib, pathlib, re, shutil, sys, zipfile
src, modules_txt, out_dir, version = pathlib.Path(sys.argv[1]), sys.argv[2], pathlib.Path(sys.argv[3]), sys.argv[4]
pkg = src / "flashinfer"

def modfile(mod):
    p = src / mod.replace(".", "/")
    if (p / "__init__.py").exists():
        return p / "__init__.py", True
    if p.with_suffix(".py").exists():
        return p.with_suffix(".py"), False
    return None, False

# The Python closure of flashinfer.sampling and flashinfer.topk: every flashinfer module they
# import, at module level or inside functions (static walk; the only dynamic import in that set is
# api_logging's dump replay). flashinfer/__init__.py and flashinfer/jit/__init__.py are not
# followed: they import every other feature, and peers.py does not run them.
BARE = {"flashinfer", "flashinfer.jit"}
seen, files = set(), set()
todo = ["flashinfer.sampling", "flashinfer.topk", "flashinfer.jit.sampling", "flashinfer.jit.topk", "flashinfer.version"]
while todo:
    m = todo.pop()
    if m in seen:
        continue
    seen.add(m)
    f, is_pkg = modfile(m)
    if f is None or m in BARE:
        continue
    files.add(f)
    base = m if is_pkg else m.rpartition(".")[0]
    for node in ast.walk(ast.parse(f.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = base.split(".")
                b = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                b = node.module or ""
            names = [b] + [f"{b}.{a.name}" for a in node.names]
        for n in names:
            if n.startswith("flashinfer") and modfile(n)[0] is not None:
                parts = n.split(".")
                todo.extend(".".join(parts[:i]) for i in range(1, len(parts) + 1))
files |= {pkg / "py.typed"} if (pkg / "py.typed").exists() else set()
data = {}
for f in sorted(files):
    data[f.relative_to(src).as_posix()] = f.read_bytes()
# The AOT modules, and what their builds read from the package (for an optional JIT rebuild).
for line in open(modules_txt):
    name, build_dir = line.split()
    build_dir = pathlib.Path(build_dir)
    data[f"flashinfer/data/aot/{name}/{name}.so"] = (build_dir / f"{name}.so").read_bytes()
    for dep in re.findall(r"^\s+(\S+)$", (build_dir / "deps.txt").read_text(), re.M):
        p = pathlib.Path(dep).resolve()
        try:
            rel = p.relative_to(src.resolve())
        except ValueError:
            continue  # CUDA toolkit or tvm-ffi headers: on the device already / in the tvm-ffi wheel
        data[rel.as_posix()] = p.read_bytes()
    for s in re.findall(r"cuda_compile (\S+\.cu)", (build_dir / "build.ninja").read_text()):
        p = pathlib.Path(s).resolve()
        data[p.relative_to(src.resolve()).as_posix()] = p.read_bytes()

old_info = next(src.glob("flashinfer_python-*.dist-info"))
info = f"flashinfer_python-{version}.dist-info"
meta = (old_info / "METADATA").read_text()
meta = re.sub(r"^Version: .*$", f"Version: {version}", meta, count=1, flags=re.M)
meta = meta.replace("\nRequires-Dist:", "\nX-Original-Requires-Dist:")
meta = meta.replace("\n\n", "\nX-Repack: samplejit tools/bench/flashinfer_setup.sh: flashinfer.sampling and "
                    "flashinfer.topk only, with their JIT modules prebuilt for sm_90a\n\n", 1)
data[f"{info}/METADATA"] = meta.encode()
data[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: samplejit-repack\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n"
for f in old_info.iterdir():
    if f.name.startswith("LICENSE") or f.name == "top_level.txt" or f.is_dir():
        if f.is_dir():
            for g in f.rglob("*"):
                if g.is_file():
                    data[f"{info}/{g.relative_to(old_info).as_posix()}"] = g.read_bytes()
        else:
            data[f"{info}/{f.name}"] = f.read_bytes()

def h(b):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(b).digest()).rstrip(b"=").decode()
record = "".join(f"{n},{h(b)},{len(b)}\n" for n, b in sorted(data.items())) + f"{info}/RECORD,,\n"
out = out_dir / f"flashinfer_python-{version}-py3-none-any.whl"
for old in out_dir.glob("flashinfer_python-*.whl"):
    old.unlink()
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for n, b in sorted(data.items()):
        z.writestr(n, b)
    z.writestr(f"{info}/RECORD", record)
print(f"{out}: {len(data)} files ({len(files)} from the Python package), {out.stat().st_size / 2**20:.1f} MiB")
EOF
  "$work/venv/bin/python" "$work/repack.py" "$work/src" "$work/modules.txt" "$root/.whl" "$FI_VERSION+$FI_LOCAL"
  rm -f "$root"/.whl/apache_tvm_ffi-*.whl "$root"/.whl/nvidia_ml_py-*.whl
  cp "$tvm_whl" "$(ls "$work"/dl/nvidia_ml_py-*.whl | sort -V | tail -1)" "$root/.whl/"
  ls -l "$root/.whl"
  du -sh "$root/.whl"
)

case "${1:-}" in
  build) fi_build ;;
  install) fi_install ;;
  *) echo "usage: bash tools/bench/flashinfer_setup.sh build | . tools/bench/flashinfer_setup.sh install" >&2 ;;
esac
