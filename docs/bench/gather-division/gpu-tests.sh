#!/bin/bash
# Device: the sampler GPU cases on head/ (prewarm first).
cd "$(dirname "$0")"
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
mkdir -p $OUT/ab
( time ( ./head/samplejit prewarm --kind sample --arch sm_90 --dtype bf16 --vocab 151936 --block 256,512 --jobs 16 | tail -1
  ./head/samplejit prewarm --kind sample --arch sm_90 --dtype bf16 --vocab 151936 --block 512 --cluster 1,2,4,8,16 --mask bitmask,nomask --jobs 16 | tail -1
  ./head/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,bf16,fp16 --vocab 32000 --block 512 --cluster 0,4 --mask bitmask,nomask --jobs 16 | tail -1
  ./head/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,fp16 --vocab 64,50257 --block 512 --mask nomask --jobs 16 | tail -1
  ./head/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,bf16 --vocab 151936 --block 512 --cluster 1,4,16 --mask nomask --jobs 16 | tail -1 ) ) > $OUT/ab/prewarm.txt 2>&1
( ./head/samplejit info | head -1; date -u +%FT%TZ; time timeout 420 ./head/samplejit_gpu_tests "[sample]" --durations yes; echo "rc=$?"; date -u +%FT%TZ ) > $OUT/ab/gpu-tests-sample.log 2>&1
tail -6 $OUT/ab/gpu-tests-sample.log
