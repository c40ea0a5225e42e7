#!/bin/bash
# Recorded as run from .carry/r27/ (head/, g11/, b06/ held the binaries; see README.md).
# Device (next session): head (06df736 = e13c962's kernels) against g11 (the quotient from the
# hoisted reciprocal, no per-token test; g11-recip-chunks.patch), T = 0.8 and 1, the three sample
# modes; and b06 (06bc2a3) against head for sample-bitmask (e13c962's spills grew there).
# Then: ./call.sh tests  (the sampler GPU cases on g11).
cd "$(dirname "$0")"
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
mkdir -p $OUT/ab
if [ "$1" != tests ]; then
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/ab/card.txt
A="--mode sample,sample-bitmask,sample-inplace --batch 64,256,1024,4096 --jobs 16"
for r in 1 2; do
  for t in 0.8 1; do for b in head g11; do
    timeout 120 ./$b/samplejit bench $A --temperature $t --out $OUT/ab/t$t-$b-$r.json > /dev/null 2>&1
    echo "t$t $b $r rc=$? $(date -u +%T)" >> $OUT/ab/times.txt
  done; done
  for b in b06 head; do
    timeout 100 ./$b/samplejit bench --mode sample-bitmask --batch 64,256,1024,4096 --jobs 16 --temperature 0.8 --out $OUT/ab/bm-$b-$r.json > /dev/null 2>&1
    echo "bm $b $r rc=$? $(date -u +%T)" >> $OUT/ab/times.txt
  done
done
cat $OUT/ab/times.txt
cd $OUT && tar czf ab.tgz ab && rm -rf ab; exit 0
fi
G=./g11
( time ( $G/samplejit prewarm --kind sample --arch sm_90 --dtype bf16 --vocab 151936 --block 256,512 --jobs 16 | tail -1
  $G/samplejit prewarm --kind sample --arch sm_90 --dtype bf16 --vocab 151936 --block 512 --cluster 1,2,4,8,16 --mask bitmask,nomask --jobs 16 | tail -1
  $G/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,bf16,fp16 --vocab 32000 --block 512 --cluster 0,4 --mask bitmask,nomask --jobs 16 | tail -1
  $G/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,fp16 --vocab 64,50257 --block 512 --mask nomask --jobs 16 | tail -1
  $G/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,bf16 --vocab 151936 --block 512 --cluster 1,4,16 --mask nomask --jobs 16 | tail -1 ) ) > $OUT/ab/prewarm.txt 2>&1
( $G/samplejit info | head -1; date -u +%FT%TZ; time timeout 400 $G/samplejit_gpu_tests "[sample]" --durations yes; echo "rc=$?"; date -u +%FT%TZ ) > $OUT/ab/gpu-tests-sample.log 2>&1
tail -6 $OUT/ab/gpu-tests-sample.log
