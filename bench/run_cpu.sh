#!/usr/bin/env bash
# Builds and runs the CPU benchmark; writes bench/results/cpu-<host>-<date>.md
# with the machine, the commit and the command.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target bench_cpu >/dev/null
out=bench/results/cpu-$(hostname -s)-$(date +%Y%m%d).md
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
{
  echo "# CPU benchmark"
  echo
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
  echo "- commit: ${commit}${dirty}"
  echo "- command: \`bash bench/run_cpu.sh $*\` (runs \`build/bench/bench_cpu $*\`)"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Update: pulsed update of every tile (SoftBounds with d2d and c2c variation, BL 31 with"
  echo "update and BL management, x and d uniform in [-1, 1]); weights/s = tiles x rows x cols x"
  echo "batch / time; pulses = mean device pulses per weight and sample; upd GB/s = 8 bytes per"
  echo "weight (read + write) / time, to set beside the memcpy bandwidth measured in the same run."
  echo "fwd/bwd: analog reads with the default IO, GFLOP/s = 2 x weights x batch / time."
  echo "Times are medians of the repeats."
  echo
  ./build/bench/bench_cpu "$@"
} | tee "$out"
echo "wrote $out"
