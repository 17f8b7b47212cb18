#!/usr/bin/env bash
# The checks that need a GPU, for a machine lent by the workplace's device
# tool (or any machine with an NVIDIA GPU and the CUDA toolkit): builds the
# library with the CUDA backend, then runs the stages asked for and copies
# their logs and results to $OUT (or out/gpu when OUT is unset).
#
# Usage: bash scripts/gpu_check.sh [STAGE ...]   (default: tests sanitize bench)
#   tests     the CUDA agreement suites (test_cuda_*), bit-identical to the CPU
#   sanitize  the suites under compute-sanitizer memcheck and racecheck
#             (AIMC_CUDA_TEST_SANITIZER=1: small shapes, no out-of-memory test)
#   bench     bench/run_gpu.sh: update, forward, backward against copy,
#             cuBLAS and PyTorch (bench/results/gpu-*.md)
#   quick     bench/run_gpu.sh on a few rows only
#   train     aimc-train with 64 replicas on Fashion-MNIST: epoch time on the GPU
# Criterion comes from .gpu/root when present (scripts/gpu_bundle.sh; the
# device tool's `carry`), else from the system.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-out/gpu}
mkdir -p "$out"
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(tests sanitize bench)
log() { echo "gpu_check: $*" | tee -a "$out/summary.txt"; }
export PATH="/usr/local/cuda/bin:$PATH"
prefix=()
if [ -d .gpu/root ]; then
  root=$PWD/.gpu/root
  export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
  prefix=(-DCMAKE_PREFIX_PATH="$root/usr")
fi
{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null ||
    echo "no nvidia-smi"
  nvcc --version 2>&1 | tail -n 2; git rev-parse --short HEAD 2>/dev/null || echo "commit unknown"
} > "$out/machine.txt"
log "machine: $(head -n 1 "$out/machine.txt")"

start=$(date +%s)
if ! cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DAIMC_CUDA=ON "${prefix[@]}" \
     > "$out/build.log" 2>&1 || ! cmake --build build-gpu -j"$(nproc)" >> "$out/build.log" 2>&1; then
  log "build FAILED (build.log)"
  tail -n 30 "$out/build.log"
  exit 1
fi
log "build ok in $(( $(date +%s) - start )) s"

status=0
suites=(test_cuda_core test_cuda_algorithms test_cuda_network)
for stage in "${stages[@]}"; do
  t0=$(date +%s)
  case "$stage" in
    tests)
      for s in "${suites[@]}"; do
        ./build-gpu/tests/"$s" -j1 --short-filename > "$out/$s.log" 2>&1
        rc=$?
        log "$s: exit $rc, $(grep -a 'Synthesis' "$out/$s.log" | tail -n 1)"
        [ $rc -eq 0 ] || status=1
      done ;;
    sanitize)
      for tool in memcheck racecheck; do
        for s in "${suites[@]}"; do
          AIMC_CUDA_TEST_SANITIZER=1 compute-sanitizer --tool "$tool" --error-exitcode 9 \
            --target-processes all ./build-gpu/tests/"$s" -j1 --short-filename \
            > "$out/$s.$tool.log" 2>&1
          rc=$?
          log "$s under $tool: exit $rc, $(grep -a 'ERROR SUMMARY' "$out/$s.$tool.log" | sort | uniq -c | tr '\n' ' ')"
          [ $rc -eq 0 ] || status=1
        done
      done ;;
    bench|quick)
      args=()
      [ "$stage" = quick ] && args=(--tiles 64,1024 --batches 1,16)
      AIMC_BUILD_DIR=build-gpu bash bench/run_gpu.sh "${args[@]}" > "$out/bench.log" 2>&1
      rc=$?
      log "bench ($stage): exit $rc"
      cp bench/results/gpu-*.md "$out/" 2>/dev/null || true
      [ $rc -eq 0 ] || status=1
      # reads one sample per block instead of groups of up to 8: which is faster
      AIMC_CUDA_READ_GROUP=1 ./build-gpu/bench/bench_gpu --ops forward,backward --tiles 1024 \
        --batches 1,16,128 > "$out/bench-read-group-1.md" 2> "$out/bench-read-group-1.log"
      log "bench with AIMC_CUDA_READ_GROUP=1: exit $?" ;;
    train)
      ./build-gpu/apps/aimc-train --seeds 64 --epochs 1 --progress lines --out "$out/train" \
        > "$out/train.log" 2>&1
      rc=$?
      log "train (64 replicas, 1 epoch): exit $rc; $(grep -a -i 'epoch 1' "$out/train.log" | tail -n 1)"
      rm -f "$out/train/checkpoint.aimc"
      [ $rc -eq 0 ] || status=1 ;;
    *) log "unknown stage $stage"; status=2 ;;
  esac
  log "$stage took $(( $(date +%s) - t0 )) s"
done
exit $status
