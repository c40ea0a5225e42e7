#!/bin/bash
# Device: 06bc2a3 (fin/) against g10 (the gather chunk's candidates reserve their slots with one
# addition per chunk), T = 0.8 and 1, then the sampler GPU cases on g10.
cd "$(dirname "$0")"
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
mkdir -p $OUT/ab
if [ "$1" != tests ]; then
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/ab/card.txt
date -u +%FT%TZ > $OUT/ab/times.txt
A="--mode sample,sample-inplace --batch 64,256,1024,4096 --jobs 16"
for r in 1 2; do for t in 0.8 1; do for b in fin g10; do
  timeout 100 ./$b/samplejit bench $A --temperature $t --out $OUT/ab/t$t-$b-$r.json > /dev/null 2>&1
  echo "t$t $b $r rc=$? $(date -u +%T)" >> $OUT/ab/times.txt
done; done; done
cat $OUT/ab/times.txt
cd $OUT && tar czf ab.tgz ab && rm -rf ab; exit 0
fi
( time ( ./g10/samplejit prewarm --kind sample --arch sm_90 --dtype bf16 --vocab 151936 --block 256,512 --jobs 16 | tail -1
  ./g10/samplejit prewarm --kind sample --arch sm_90 --dtype bf16 --vocab 151936 --block 512 --cluster 1,2,4,8,16 --mask bitmask,nomask --jobs 16 | tail -1
  ./g10/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,bf16,fp16 --vocab 32000 --block 512 --cluster 0,4 --mask bitmask,nomask --jobs 16 | tail -1
  ./g10/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,fp16 --vocab 64,50257 --block 512 --mask nomask --jobs 16 | tail -1
  ./g10/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,bf16 --vocab 151936 --block 512 --cluster 1,4,16 --mask nomask --jobs 16 | tail -1 ) ) > $OUT/ab/prewarm.txt 2>&1
( ./g10/samplejit info | head -1; date -u +%FT%TZ; time timeout 330 ./g10/samplejit_gpu_tests "[sample]" --durations yes; echo "rc=$?"; date -u +%FT%TZ ) > $OUT/ab/gpu-tests-sample.log 2>&1
tail -6 $OUT/ab/gpu-tests-sample.log
