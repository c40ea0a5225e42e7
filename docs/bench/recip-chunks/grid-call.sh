#!/bin/bash
# Recorded as run from .carry/r28/ (head/ held 1c8cead's binaries); the grid and peers went to $OUT.
# Device: the issue-4 grid and the peers at 1c8cead's binaries (.carry/r28/head), one call.
cd "$(dirname "$0")/../.."
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
H=.carry/r28/head
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader > $OUT/card.txt
$H/samplejit info > $OUT/info.txt 2>&1
date -u +%FT%TZ > $OUT/times.txt
( time $H/samplejit bench --mode all --reps 100 --temperature 0.8 --jobs 16 --out $OUT/bench.json ) > $OUT/bench.txt 2>&1
echo "bench rc=$?" >> $OUT/times.txt; date -u +%FT%TZ >> $OUT/times.txt
. tools/bench/flashinfer_setup.sh install >> $OUT/times.txt 2>&1
( time python3 tools/bench/peers.py --lib $H/libsamplejit.so --deadline-s 90 --batches 1,16,64,256,1024 --out $OUT/peers.json ) > $OUT/peers.txt 2>&1
echo "peers rc=$?" >> $OUT/times.txt; date -u +%FT%TZ >> $OUT/times.txt
cat $OUT/times.txt; tail -3 $OUT/bench.txt; tail -5 $OUT/peers.txt
