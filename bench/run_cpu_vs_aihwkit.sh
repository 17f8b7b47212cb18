#!/usr/bin/env bash
# Side-by-side CPU benchmark of aimc against aihwkit 1.1.0's C++ tiles (issue 9).
#
#   bash bench/run_cpu_vs_aihwkit.sh [--quick] [--reps N]
#
# Installs aihwkit 1.1.0 and torch 2.10.0 from PyPI into a virtual environment
# outside the repository ($AIMC_AIHWKIT_VENV, default ~/.cache/aimc-aihwkit-venv;
# aihwkit 1.1.0's compiled tiles need exactly torch 2.10), builds aimc's
# bench/bench_peer ($AIMC_BENCH_BUILD, default build-bench, CPU only), runs the
# same configurations in both, one thread each (taskset -c 1, OMP_NUM_THREADS=1,
# torch.set_num_threads(1)), then aimc on two threads (taskset -c 0,1), and
# writes bench/results/cpu-vs-aihwkit.md (bench/results/cpu-vs-aihwkit-quick.md
# with --quick: the 1 x 256x256 rows only).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
reps=5
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --reps) reps="$2"; shift ;;
    *) echo "usage: bash bench/run_cpu_vs_aihwkit.sh [--quick] [--reps N]" >&2; exit 2 ;;
  esac
  shift
done
venv=${AIMC_AIHWKIT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/aimc-aihwkit-venv}
build=${AIMC_BENCH_BUILD:-build-bench}

if ! "$venv/bin/python" -c 'import aihwkit, torch, sys; sys.exit(not (aihwkit.__version__ == "1.1.0" and torch.__version__.startswith("2.10.0")))' 2>/dev/null; then
  echo "installing aihwkit 1.1.0 and torch 2.10.0 into $venv (large: torch pulls CUDA wheels)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q aihwkit==1.1.0 torch==2.10.0
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DAIMC_CUDA=OFF -DAIMC_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_peer >/dev/null

# The configurations: op config tiles rows cols batch reps. Large rows get
# fewer repeats (one timed call, no warm-up, beyond 4e7 weight-samples) so
# the full grid fits in about a quarter of an hour on a 2-core machine.
spec=$(mktemp)
trap 'rm -f "$spec" "$spec".*' EXIT
shapes="1:256:256 1:512:512 64:256:256 1024:64:64"
[ $quick -eq 1 ] && shapes="1:256:256"
reps_for() { # weight-samples of one call -> repeats
  local work=$1
  if [ "$work" -le 2000000 ]; then echo "$reps"; elif [ "$work" -le 40000000 ]; then echo 3; else echo 1; fi
}
for op in update forward backward; do
  configs="softbounds"
  [ $op = update ] && configs="softbounds constant exp"
  for config in $configs; do
    for shape in $shapes; do
      IFS=: read -r tiles rows cols <<<"$shape"
      for batch in 1 16 128; do
        work=$((tiles * rows * cols * batch))
        echo "$op $config $tiles $rows $cols $batch $(reps_for $work)"
      done
    done
  done
done >"$spec"
for config in cttv2-reramsb agad-reramsb; do
  for batch in 1 16; do echo "update $config 1 256 256 $batch $reps"; done
done >>"$spec"

load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "aihwkit, 1 thread ..."
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 taskset -c 1 "$venv/bin/python" bench/peers/aihwkit_peer.py \
  --threads 1 --reps "$reps" <"$spec" | tee "$spec.aihwkit"
echo "aimc, 1 thread ..."
OMP_NUM_THREADS=1 taskset -c 1 "./$build/bench/bench_peer" --threads 1 --reps "$reps" <"$spec" \
  | tee "$spec.aimc1"
echo "aimc, 2 threads ..."
# Sleeping idle threads by default: on a machine shared with other jobs a
# spinning OpenMP thread takes the core its partner needs (scripts/main.sh).
wait_policy=${OMP_WAIT_POLICY:-passive}
OMP_WAIT_POLICY=$wait_policy OMP_NUM_THREADS=2 taskset -c 0,1 "./$build/bench/bench_peer" --threads 2 --reps "$reps" <"$spec" \
  | tee "$spec.aimc2"

out=bench/results/cpu-vs-aihwkit.md
[ $quick -eq 1 ] && out=bench/results/cpu-vs-aihwkit-quick.md
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
versions=$("$venv/bin/python" -c 'import aihwkit, torch; print(f"aihwkit {aihwkit.__version__}, torch {torch.__version__}")')
simd=$(grep -o -m1 -w 'avx512f' /proc/cpuinfo >/dev/null && echo avx512 || echo "avx2 or portable")
{
  echo "# aimc vs aihwkit on the CPU"
  echo
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB (shared with other jobs)"
  echo "- commit: ${commit}${dirty}; aimc's SIMD path: ${AIMC_CPU_SIMD:-automatic ($simd)}"
  echo "- peer: ${versions} (PyPI), Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'), the C++ tiles (\`AnalogTile(...).tile\`) driven from Python"
  echo "- command: \`bash bench/run_cpu_vs_aihwkit.sh $*\`"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "One thread each (\`taskset -c 1\`, \`OMP_NUM_THREADS=1\`, \`torch.set_num_threads(1)\`), in one"
  echo "run; times are medians of the repeats (column reps; with 1 repeat a single call, no warm-up)."
  echo "Every call covers every tile (aihwkit: a loop over the tiles). Configurations: aihwkit's"
  echo "defaults for the device (SoftBounds, ConstantStep, ExpStep: dw_min 0.001, dtod 0.3, c2c"
  echo "dw_min_std 0.3), the default update (BL 31, update and BL management, lr 0.01) and IO (7-bit"
  echo "DAC, 9-bit ADC, noise and bound management); c-TTv2 and AGAD: aihwkit's ChoppedTTv2ReRamSBPreset"
  echo "and AGADReRamSBPreset. x, d uniform in [-1, 1], weights uniform in [-0.3, 0.3]."
  echo "speed-up = aihwkit time / aimc time (1 thread); target: update 5x, reads 2x, c-TTv2/AGAD 3x;"
  echo "2T/1T: aimc's two-thread speed-up (target 1.8x for the update and for reads with batch >= 16),"
  echo "with OMP_WAIT_POLICY=$wait_policy; load average at the start: $load0."
  echo
  echo "| op | config | tiles x rows x cols | batch | reps | aihwkit ms | aimc ms | speed-up | target | aimc 2T ms | 2T/1T | 2T target |"
  echo "|---|---|---|--:|--:|--:|--:|--:|---|--:|--:|---|"
  paste -d' ' "$spec" "$spec.aihwkit" "$spec.aimc1" "$spec.aimc2" | awk '{
    op=$1; cfg=$2; reps=$7; ta=$14; t1=$21; t2=$28; batch=$6
    sp = ta / t1; s2 = t1 / t2
    tgt = (op == "update") ? ((cfg ~ /reramsb/) ? 3 : 5) : 2
    met = (sp >= tgt) ? "met" : "not met"
    t2tgt = (op == "update" || batch >= 16) ? ((s2 >= 1.8) ? "met" : "not met") : "-"
    printf "| %s | %s | %d x %dx%d | %d | %d | %.3f | %.3f | %.2f | %dx %s | %.3f | %.2f | %s |\n",
      op, cfg, $3, $4, $5, batch, reps, 1e3*ta, 1e3*t1, sp, tgt, met, 1e3*t2, s2, t2tgt }'
} >"$out"
echo "wrote $out"
