#!/bin/bash
# Device: the branch-free gather chunks (g4/) against HEAD (head/), sample modes, T = 0.8, then the sampler GPU cases on g4/.
cd "$(dirname "$0")"
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
mkdir -p $OUT/ab
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/ab/card.txt
date -u +%FT%TZ > $OUT/ab/times.txt
for r in 1 2; do
  for b in head g4; do
    ./$b/samplejit bench --mode sample,sample-bitmask,sample-inplace --batch 1,16,64,256,1024 --temperature 0.8 --jobs 16 --out $OUT/ab/ab-$b-$r.json > $OUT/ab/$b-$r.txt 2>&1
  done
  date -u +%FT%TZ >> $OUT/ab/times.txt
done
( time ( ./g4/samplejit prewarm --kind sample --arch sm_90 --dtype bf16 --vocab 151936 --block 256,512 --jobs 16 | tail -1
  ./g4/samplejit prewarm --kind sample --arch sm_90 --dtype bf16 --vocab 151936 --block 512 --cluster 1,2,4,8,16 --mask bitmask,nomask --jobs 16 | tail -1
  ./g4/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,bf16,fp16 --vocab 32000 --block 512 --cluster 0,4 --mask bitmask,nomask --jobs 16 | tail -1
  ./g4/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,fp16 --vocab 64,50257 --block 512 --mask nomask --jobs 16 | tail -1
  ./g4/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,bf16 --vocab 151936 --block 512 --cluster 1,4,16 --mask nomask --jobs 16 | tail -1 ) ) > $OUT/ab/prewarm.txt 2>&1
cat $OUT/ab/times.txt; tail -2 $OUT/ab/prewarm.txt
