#!/bin/bash
# Device: efd69f1 (fin/) against g7 (the division in the chunks at T != 1), g8 (the group's masses
# in 32 bits) and g78 (both); T = 0.8 and 1 (g7 changes nothing at T = 1). Then d26faa1 (d26/)
# against fin at B = 1 and 4, fp32 sample modes (the unexplained cluster cells).
cd "$(dirname "$0")"
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
mkdir -p $OUT/ab $OUT/b1
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/ab/card.txt
date -u +%FT%TZ > $OUT/ab/times.txt
A="--mode sample,sample-inplace --batch 64,256,1024,4096 --jobs 16"
for r in 1 2; do
  for b in fin g7 g8 g78; do
    timeout 150 ./$b/samplejit bench $A --temperature 0.8 --out $OUT/ab/t0.8-$b-$r.json > /dev/null 2>&1
    echo "t0.8 $b $r rc=$? $(date -u +%T)" >> $OUT/ab/times.txt
  done
  for b in fin g8; do
    timeout 150 ./$b/samplejit bench $A --temperature 1 --out $OUT/ab/t1-$b-$r.json > /dev/null 2>&1
    echo "t1 $b $r rc=$? $(date -u +%T)" >> $OUT/ab/times.txt
  done
done
B="--mode sample,sample-inplace --dtype fp32 --batch 1,4 --jobs 16 --temperature 0.8"
for r in 1 2 3; do
  for b in d26 fin; do
    timeout 60 ./$b/samplejit bench $B --out $OUT/b1/t0.8-$b-$r.json > /dev/null 2>&1
    echo "b1 $b $r rc=$? $(date -u +%T)" >> $OUT/ab/times.txt
  done
done
cat $OUT/ab/times.txt
cd $OUT && tar czf ab.tgz ab b1 && rm -rf ab b1
