#!/usr/bin/env bash
# The README's test command: set up, then run the CPU test suite (the GPU suite runs where a GPU is).
set -euo pipefail
cd "$(dirname "$0")/../.."
tools/scripts/setup.sh
cd build
ctest --output-on-failure -L cpu
if [ -e /dev/nvidia0 ] || [ -e /dev/nvidiactl ]; then ctest --output-on-failure -L gpu; fi
