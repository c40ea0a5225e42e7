#!/usr/bin/env bash
# The README's main job: set up, prewarm the cache for a shipped model config, and on a GPU
# truncate and sample a batch with the prepared kernels.
set -euo pipefail
cd "$(dirname "$0")/../.."
config="${1:-tools/models/qwen2.5-7b-instruct.json}"
tools/scripts/setup.sh
./build/samplejit prewarm --model-config "$config" --kind truncate,sample --jobs "$(nproc)"
if ./build/samplejit info --json | grep -q '"arch"'; then
  ./build/samplejit truncate --model-config "$config" --batch 8
  ./build/samplejit sample --model-config "$config" --batch 8 --temperature 0.8
else
  echo "no GPU here: the cache is prewarmed; run this again on a GPU machine to truncate and sample a batch"
fi
