#!/bin/bash
# Device: ncu of the one-CTA sampler at B = 1024 (pipes, instruction mix, per-SASS counts).
cd "$(dirname "$0")/../.."
export SAMPLEJIT_CACHE_DIR=/tmp/sjc
H=.carry/r25/head
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/card.txt
which ncu >> $OUT/card.txt; ncu --version >> $OUT/card.txt 2>&1
$H/samplejit prewarm --arch sm_90 -j 16 --kind sample --dtype bf16,fp32 --vocab 151936 > $OUT/prewarm.log 2>&1
NC="ncu --section SpeedOfLight --section ComputeWorkloadAnalysis --section InstructionStats --section WarpStateStats --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis --metrics smsp__inst_executed.sum,dram__bytes_read.sum,smsp__issue_active.avg.pct_of_peak_sustained_active,regex:^sm__inst_executed_pipe_.*\.avg\.pct_of_peak_sustained_active$,regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$ --launch-skip 1 --launch-count 1 -k regex:sample_kernel"
prof() { local name=$1; shift; timeout 150 $NC --print-details all ./$H/samplejit bench --reps 1 --warmup 1 --temperature 0.8 "$@" > $OUT/$name.txt 2>&1; echo "$name rc=$?";
  timeout 150 ncu --section SourceCounters --launch-skip 1 --launch-count 1 -k regex:sample_kernel --page source --print-source sass --metrics smsp__inst_executed.sum ./$H/samplejit bench --reps 1 --warmup 1 --temperature 0.8 "$@" > $OUT/$name-sass.txt 2>&1; echo "$name sass rc=$?"; }
prof sample_b1024_bf16 --mode sample --params fixed --dtype bf16 --vocab 151936 --batch 1024
prof sample_b1024_fp32 --mode sample --params fixed --dtype fp32 --vocab 151936 --batch 1024
ls -la $OUT
