#!/bin/bash
# Device: HEAD (head/), the branch-free gather chunks (g4/) and g4 with the sampler's own pass 1 (p1/), sample modes, T = 0.8; then ncu of p1's bf16 kernel.
cd "$(dirname "$0")"
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
mkdir -p $OUT/ab
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/ab/card.txt
date -u +%FT%TZ > $OUT/ab/times.txt
for r in 1 2; do
  for b in head g4 p1; do
    ./$b/samplejit bench --mode sample,sample-bitmask,sample-inplace --batch 1,16,64,256,1024 --temperature 0.8 --jobs 16 --out $OUT/ab/ab-$b-$r.json > $OUT/ab/$b-$r.txt 2>&1
  done
  date -u +%FT%TZ >> $OUT/ab/times.txt
done
timeout 100 ncu --launch-skip 1 --launch-count 1 -k regex:sample_kernel --page source --print-source sass --metrics smsp__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active ./p1/samplejit bench --reps 1 --warmup 1 --temperature 0.8 --mode sample --params fixed --dtype bf16 --vocab 151936 --batch 1024 > $OUT/ab/p1-sass-bf16.txt 2>&1
gzip $OUT/ab/p1-sass-bf16.txt
cat $OUT/ab/times.txt
