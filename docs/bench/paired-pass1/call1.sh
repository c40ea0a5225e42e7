#!/bin/bash
# Recorded as run from .carry/r28/ (head/ = 1c8cead's binaries, pp/ = the draft's; see README.md).
# Device: 1c8cead (head/) against pp (head + pp-paired-pass1.patch: the sampler's pass 1 over
# 16-bit one-CTA rows two tokens per word, with a chunk-wide test for -0, inf and NaN), 16-bit rows,
# the three sample modes, T = 0.8 and 1, two rounds. `call.sh tests`: the sampler GPU cases on pp.
cd "$(dirname "$0")"
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
mkdir -p $OUT/ab
if [ "$1" != tests ]; then
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/ab/card.txt
date -u +%FT%TZ > $OUT/ab/times.txt
A="--mode sample,sample-bitmask,sample-inplace --dtype bf16,fp16 --jobs 16"
for r in 1 2; do
  for t in 0.8 1; do for b in head pp; do
    timeout 100 ./$b/samplejit bench $A --batch 64,256,1024,4096 --temperature $t --out $OUT/ab/t$t-$b-$r.json > /dev/null 2>&1
    echo "t$t $b $r rc=$? $(date -u +%T)" >> $OUT/ab/times.txt
  done; done
  for b in head pp; do
    timeout 60 ./$b/samplejit bench $A --vocab 32000 --batch 1,4,16 --temperature 0.8 --out $OUT/ab/s0.8-$b-$r.json > /dev/null 2>&1
    echo "s0.8 $b $r rc=$? $(date -u +%T)" >> $OUT/ab/times.txt
  done
done
cat $OUT/ab/times.txt
cd $OUT && tar czf ab.tgz ab && rm -rf ab; exit 0
fi
G=./pp
( time ( $G/samplejit prewarm --kind sample --arch sm_90 --dtype bf16 --vocab 151936 --block 256,512 --jobs 16 | tail -1
  $G/samplejit prewarm --kind sample --arch sm_90 --dtype bf16 --vocab 151936 --block 512 --cluster 1,2,4,8,16 --mask bitmask,nomask --jobs 16 | tail -1
  $G/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,bf16,fp16 --vocab 32000 --block 512 --cluster 0,4 --mask bitmask,nomask --jobs 16 | tail -1
  $G/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,fp16 --vocab 64,50257 --block 512 --mask nomask --jobs 16 | tail -1
  $G/samplejit prewarm --kind sample --arch sm_90 --dtype fp32,bf16 --vocab 151936 --block 512 --cluster 1,4,16 --mask nomask --jobs 16 | tail -1 ) ) > $OUT/ab/prewarm.txt 2>&1
( $G/samplejit info | head -1; date -u +%FT%TZ; time timeout 400 $G/samplejit_gpu_tests "[sample]" --durations yes; echo "rc=$?"; date -u +%FT%TZ ) > $OUT/ab/gpu-tests-sample.log 2>&1
tail -6 $OUT/ab/gpu-tests-sample.log
cd $OUT && tar czf t.tgz ab
