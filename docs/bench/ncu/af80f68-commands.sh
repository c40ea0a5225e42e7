export SAMPLEJIT_CACHE_DIR=$PWD/cache
B=.carry/samplejit
$B prewarm --kind truncate,sample --dtype fp32,bf16 --vocab 151936 --block 512 --mask none --jobs 8 > /dev/null 2>&1
NC="ncu --section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats --section InstructionStats --metrics regex:^smsp__average_warps_issue_stalled_.*_per_issue_active\.ratio$,smsp__inst_executed.sum,dram__bytes_read.sum,dram__bytes_write.sum,sm__cycles_active.avg,smsp__issue_active.avg.pct_of_peak_sustained_active --launch-skip 1 --launch-count 1"
for d in fp32 bf16; do
$NC -k regex:truncate_kernel $B bench --reps 1 --warmup 1 --params fixed --dtype $d --vocab 151936 --mode truncate --batch 1024 > $OUT/af80f68-truncate_b1024_$d.txt 2>&1
$NC -k regex:sample_kernel $B bench --reps 1 --warmup 1 --params fixed --dtype $d --vocab 151936 --mode sample --batch 1024 --temperature 0.8 > $OUT/af80f68-sample_b1024_$d.txt 2>&1
done
for f in $OUT/af80f68-*.txt; do echo "== $f"; grep -E "Duration|DRAM Throughput|Compute \(SM\)|Registers Per|Achieved Occ|issue_active|inst_executed.sum|dram__bytes|issue_stalled_(long_scoreboard|wait|lg_throttle|mio_throttle|short_scoreboard|not_selected|math_pipe)|ERROR|error" $f | head -20; done
