#!/bin/bash
# ncu of one kernel per FlashInfer-losing topk class and one k-and-p one-CTA class.
cd "$(dirname "$0")"
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
./samplejit prewarm --arch sm_90 -j 16 --kind truncate --dtype bf16,fp32 --vocab 151936,262144 --mask nomask > $OUT/prewarm.log 2>&1
NC="ncu --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats --metrics regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$,smsp__inst_executed.sum,dram__bytes_read.sum,dram__bytes_write.sum,sm__cycles_active.avg,smsp__issue_active.avg.pct_of_peak_sustained_active,smsp__inst_executed_op_shared_atom.sum --launch-skip 1 --launch-count 1 -k regex:truncate_kernel"
prof() { local name=$1; shift; timeout 100 $NC ./samplejit bench --reps 1 --warmup 1 "$@" > $OUT/5aa036f-$name.txt 2>&1; echo "$name rc=$?"; }
prof topk_b64_bf16_fixed   --mode topk --params fixed  --dtype bf16 --vocab 151936 --batch 64
prof topk_b64_bf16_random  --mode topk --params random --dtype bf16 --vocab 151936 --batch 64
prof topk_b64_fp32_fixed   --mode topk --params fixed  --dtype fp32 --vocab 151936 --batch 64
prof topk_b16_bf16_v262144 --mode topk --params fixed  --dtype bf16 --vocab 262144 --batch 16
prof truncate_b256_bf16_random --mode truncate --params random --dtype bf16 --vocab 151936 --batch 256
for f in $OUT/5aa036f-*.txt; do echo "== $(basename $f)"; grep -E "truncate_kernel|Duration|DRAM Throughput|Compute \(SM\)|Registers Per|Achieved Occ|issue_active|inst_executed.sum|long_scoreboard|stalled_wait|not_selected|barrier_per" $f | head -14; done
