#!/bin/bash
# Device: e9bc7c5 (g4/), g4 + a T == 1 branch per group (g5/), g4 + a T == 1 branch per chunk (g6/); T = 1 and 0.8.
cd "$(dirname "$0")"
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
mkdir -p $OUT/ab
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/ab/card.txt
date -u +%FT%TZ > $OUT/ab/times.txt
A="--mode sample,sample-inplace --batch 64,256,1024 --jobs 16"
for r in 1 2; do
  for t in 1 0.8; do
    for b in g4 g5 g6; do
      ./$b/samplejit bench $A --temperature $t --out $OUT/ab/t$t-$b-$r.json > /dev/null 2>&1
    done
  done
  date -u +%FT%TZ >> $OUT/ab/times.txt
done
cat $OUT/ab/times.txt
cd $OUT && tar czf ab.tgz ab && rm -rf ab
