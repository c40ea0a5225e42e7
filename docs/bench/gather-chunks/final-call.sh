#!/bin/bash
# Device: the issue-4 grid and the peers at efd69f1 binaries (.carry/r20/fin), one call.
cd "$(dirname "$0")/../.."
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
H=.carry/r20/fin
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader > $OUT/card.txt
$H/samplejit info > $OUT/info.txt 2>&1
date -u +%FT%TZ > $OUT/times.txt
( time $H/samplejit bench --mode all --reps 100 --temperature 0.8 --jobs 16 --out $OUT/bench.json ) > $OUT/bench.txt 2>&1
echo "bench rc=$?" >> $OUT/times.txt; date -u +%FT%TZ >> $OUT/times.txt
. tools/bench/flashinfer_setup.sh install >> $OUT/times.txt 2>&1
( time python3 tools/bench/peers.py --lib $H/libsamplejit.so --deadline-s 90 --batches 1,16,64,256,1024 --out $OUT/peers.json ) > $OUT/peers.txt 2>&1
echo "peers rc=$?" >> $OUT/times.txt; date -u +%FT%TZ >> $OUT/times.txt
cat $OUT/times.txt; tail -3 $OUT/bench.txt; tail -5 $OUT/peers.txt
# Then: efd69f1 (fin/) against d26faa1 (d26/), sample modes at T = 1 and T = 0.8, same call.
mkdir -p $OUT/ab && cd .carry/r20
date -u +%FT%TZ > $OUT/ab/times.txt
A="--mode sample,sample-inplace --batch 16,64,256,1024 --jobs 16"
for r in 1 2; do
  for t in 1 0.8; do
    for b in d26 fin; do
      timeout 100 ./$b/samplejit bench $A --temperature $t --out $OUT/ab/t$t-$b-$r.json > /dev/null 2>&1
    done
  done
  date -u +%FT%TZ >> $OUT/ab/times.txt
done
cat $OUT/ab/times.txt
cd $OUT && tar czf ab.tgz ab && rm -rf ab
