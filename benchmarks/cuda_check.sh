#!/bin/bash
# Builds localllm with its CUDA backend on a machine with an NVIDIA GPU and runs every GPU check:
# tests/cuda/run_all.py (accuracy against the CPU, perplexity, memory error, speed) and
# the op-by-op comparison of one layer with the CPU (tests/cuda/op_compare.py) and
# compute-sanitizer memcheck on one forward pass (tests/cuda/one_forward.py).
#
#   benchmarks/cuda_check.sh WORK_DIR [PHASES] [TEXT_FILE]
set -u
WORK=${1:?work dir}
PHASES=${2:-synth,accuracy,decode,shift,floor,ppl,memory,speed}
TEXT=${3:-}
mkdir -p "$WORK"
nvidia-smi --query-gpu=name,memory.total,memory.used,clocks.max.sm --format=csv
(LOCALLLM_CUDA=0 python3 setup.py -q build_ext --inplace > "$WORK/build_cpu.log" 2>&1; echo "CPU build rc $?") &
(python3 native/cuda/build.py > "$WORK/build_cuda.log" 2>&1; echo "CUDA build rc $?") &
wait
grep -iE "error|warning" "$WORK/build_cuda.log" | head -20
python3 -c "from localllm.system import cuda_status; print('cuda_status:', cuda_status())"
python3 tests/cuda/run_all.py "$WORK" --phases "$PHASES" ${TEXT:+--text "$TEXT"} 2>&1 | tee "$WORK/run_all.log"
for model in llama-small gemma3-270m; do
    [ -f "$WORK/$model-synthetic.gguf" ] && python3 tests/cuda/op_compare.py "$WORK/$model-synthetic.gguf" 2>&1 |
        tee "$WORK/op_compare-$model.log"
done
if [ -f "$WORK/llama-small-synthetic.gguf" ]; then
    compute-sanitizer --tool memcheck --leak-check no python3 tests/cuda/one_forward.py \
        "$WORK/llama-small-synthetic.gguf" > "$WORK/memcheck.log" 2>&1
    echo "memcheck rc $?"; tail -4 "$WORK/memcheck.log"
fi
