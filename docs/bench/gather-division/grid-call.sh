#!/bin/bash
# Device: the issue-4 grid and the peers at HEAD's binaries (.carry/r23/head), one call; then
# d26faa1 (d26/), efd69f1 (fin/) and head for fp32 V = 32000 at B = 1-64 (one-CTA rows at every batch).
cd "$(dirname "$0")/../.."
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
H=.carry/r23/head
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader > $OUT/card.txt
$H/samplejit info > $OUT/info.txt 2>&1
date -u +%FT%TZ > $OUT/times.txt
( time $H/samplejit bench --mode all --reps 100 --temperature 0.8 --jobs 16 --out $OUT/bench.json ) > $OUT/bench.txt 2>&1
echo "bench rc=$?" >> $OUT/times.txt; date -u +%FT%TZ >> $OUT/times.txt
. tools/bench/flashinfer_setup.sh install >> $OUT/times.txt 2>&1
( time python3 tools/bench/peers.py --lib $H/libsamplejit.so --deadline-s 90 --batches 1,16,64,256,1024 --out $OUT/peers.json ) > $OUT/peers.txt 2>&1
echo "peers rc=$?" >> $OUT/times.txt; date -u +%FT%TZ >> $OUT/times.txt
mkdir -p $OUT/ab && cd .carry/r23
B="--mode sample,sample-inplace --dtype fp32 --vocab 32000 --batch 1,4,16,64 --temperature 0.8 --jobs 16"
for r in 1 2 3; do
  for b in d26 fin head; do
    timeout 60 ./$b/samplejit bench $B --out $OUT/ab/t0.8-v32k-$b-$r.json > /dev/null 2>&1
    echo "v32k $b $r rc=$? $(date -u +%T)" >> $OUT/times.txt
  done
done
cat $OUT/times.txt; tail -3 $OUT/bench.txt; tail -5 $OUT/peers.txt
cd $OUT && tar czf ab.tgz ab && rm -rf ab
