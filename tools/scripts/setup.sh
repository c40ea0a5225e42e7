#!/usr/bin/env bash
# Installs what samplejit needs from Debian (if missing) and builds it into build/.
set -euo pipefail
cd "$(dirname "$0")/../.."
pkgs=(cmake g++ gcc python3 make libfmt-dev nlohmann-json3-dev catch2 libcli11-dev libxxhash-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
fi
if [ ! -f /usr/local/cuda/include/nvrtc.h ] && ! command -v nvcc >/dev/null; then
  echo "setup: the CUDA toolkit (cuda.h, nvrtc.h, libnvrtc) is required; install it first" >&2
  exit 1
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSAMPLEJIT_WERROR="${SAMPLEJIT_WERROR:-OFF}" >/dev/null
cmake --build build -j"$(nproc)"
