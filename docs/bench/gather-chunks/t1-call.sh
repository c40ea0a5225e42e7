#!/bin/bash
# Device: T = 1 and T = 0.8. d26faa1 (d26/), af9720c (head/), e9bc7c5 (g4/), e9bc7c5 + a T == 1 branch per group (g5/).
cd "$(dirname "$0")"
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
mkdir -p $OUT/ab
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/ab/card.txt
date -u +%FT%TZ > $OUT/ab/times.txt
A="--mode sample,sample-inplace --batch 64,256,1024 --jobs 16"
for r in 1 2; do
  for b in d26 head g4 g5; do
    ./$b/samplejit bench $A --temperature 1 --out $OUT/ab/t1-$b-$r.json > /dev/null 2>&1
  done
  date -u +%FT%TZ >> $OUT/ab/times.txt
done
for r in 1 2; do
  for b in g4 g5; do
    ./$b/samplejit bench $A --temperature 0.8 --out $OUT/ab/t08-$b-$r.json > /dev/null 2>&1
  done
  date -u +%FT%TZ >> $OUT/ab/times.txt
done
cat $OUT/ab/times.txt
cd $OUT && tar czf ab.tgz ab && rm -rf ab
