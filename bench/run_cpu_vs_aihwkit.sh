#!/usr/bin/env bash
# Side-by-side CPU benchmark of aimc against aihwkit 1.1.0's C++ tiles (issue 9).
#
#   bash bench/run_cpu_vs_aihwkit.sh [--quick] [--trainer-only] [--reps N]
#                                    [--trainer-samples N] [--trainer-reps N]
#
# Installs aihwkit 1.1.0 and torch 2.10.0 from PyPI into a virtual environment
# outside the repository ($AIMC_AIHWKIT_VENV, default ~/.cache/aimc-aihwkit-venv;
# aihwkit 1.1.0's compiled tiles need exactly torch 2.10), builds aimc's
# bench/bench_peer and aimc-train ($AIMC_BENCH_BUILD, default build-bench, CPU
# only), runs the same configurations in both, one thread each (taskset -c 1,
# OMP_NUM_THREADS=1, torch.set_num_threads(1)), then aimc on two threads
# (taskset -c 0,1), and writes bench/results/cpu-vs-aihwkit.md
# (bench/results/cpu-vs-aihwkit-quick.md with --quick: the 1 x 256x256 rows
# only and 200 trainer samples).
#
# The trainer rows (op trainer): aimc-train against aihwkit's AnalogSequential
# of the same 784-256-128-10 network (bench/peers/aihwkit_trainer_peer.py),
# one epoch of --trainer-samples samples (default 1000), the training loop's
# time only (aimc-train's results.json "train_seconds"; the peer's clock
# around its loop), median of --trainer-reps runs (default 3); beside them
# the one-thread speed-up by the loop's process CPU time ("train_cpu_seconds";
# time.process_time), steadier where other jobs share the cores.
# --trainer-only runs just those rows and writes
# bench/results/cpu-vs-aihwkit-trainer.md (for iterating on the trainer).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: bash bench/run_cpu_vs_aihwkit.sh [--quick] [--trainer-only] [--reps N] [--trainer-samples N] [--trainer-reps N]"
args="$*" # for the report: the loop below shifts them away
quick=0
trainer_only=0
reps=5
trainer_samples=
trainer_reps=3
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --trainer-only) trainer_only=1 ;;
    --reps) reps="${2:?$usage}"; shift ;;
    --trainer-samples) trainer_samples="${2:?$usage}"; shift ;;
    --trainer-reps) trainer_reps="${2:?$usage}"; shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done
for v in "$reps" "$trainer_reps" ${trainer_samples:+"$trainer_samples"}; do
  case "$v" in
    '' | *[!0-9]* | 0*) echo "bench/run_cpu_vs_aihwkit.sh: '$v' is not a positive integer; $usage" >&2; exit 2 ;;
  esac
done
[ -n "$trainer_samples" ] || { [ $quick -eq 1 ] && trainer_samples=200 || trainer_samples=1000; }
venv=${AIMC_AIHWKIT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/aimc-aihwkit-venv}
build=${AIMC_BENCH_BUILD:-build-bench}

if ! "$venv/bin/python" -c 'import aihwkit, torch, sys; sys.exit(not (aihwkit.__version__ == "1.1.0" and torch.__version__.startswith("2.10.0")))' 2>/dev/null; then
  echo "installing aihwkit 1.1.0 and torch 2.10.0 into $venv (large: torch pulls CUDA wheels)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q aihwkit==1.1.0 torch==2.10.0
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DAIMC_CUDA=OFF -DAIMC_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target bench_peer aimc-train >/dev/null

# The configurations: op config tiles rows cols batch reps. Large rows get
# fewer repeats (one timed call, no warm-up, beyond 4e7 weight-samples) so
# the full grid fits in about a quarter of an hour on a 2-core machine.
spec=$(mktemp)
tdir=$(mktemp -d)
trap 'rm -rf "$spec" "$spec".* "$tdir"' EXIT
shapes="1:256:256 1:512:512 64:256:256 1024:64:64"
[ $quick -eq 1 ] && shapes="1:256:256"
reps_for() { # weight-samples of one call -> repeats
  local work=$1
  if [ "$work" -le 2000000 ]; then echo "$reps"; elif [ "$work" -le 40000000 ]; then echo 3; else echo 1; fi
}
[ $trainer_only -eq 1 ] || for op in update forward backward; do
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
[ $trainer_only -eq 1 ] || for config in cttv2-reramsb agad-reramsb; do
  for batch in 1 16; do echo "update $config 1 256 256 $batch $reps"; done
done >>"$spec"

# The trainer rows: config, aimc-train's --algorithm and --device (each with
# the preset's IO, aimc-train's default), aihwkit's matching preset (in the
# peer). Batch 10, lr 0.1, max tile 512, sigmoid: aimc-train's defaults.
trainer_configs="sgd-gokmen-vlasov:sgd:gokmen-vlasov cttv2-reramsb:c-ttv2:reram-sb agad-reramsb:agad:reram-sb"
trainer_batch=10
# Medians of train_seconds and train_cpu_seconds (the loop's process CPU
# time) of $trainer_reps one-epoch runs of aimc-train on $trainer_samples
# samples (one seed, no checkpoint, 100 test samples: the test is outside the
# timed loop).
aimc_trainer() { # algorithm device threads cpus -> wall-seconds cpu-seconds
  local algorithm=$1 device=$2 threads=$3 cpus=$4 r
  for r in $(seq "$trainer_reps"); do
    OMP_NUM_THREADS=$threads taskset -c "$cpus" "./$build/apps/aimc-train" \
      --algorithm "$algorithm" --device "$device" --seeds 1 --epochs 1 \
      --train-subset "$trainer_samples" --test-subset 100 --batch $trainer_batch \
      --threads "$threads" --checkpoint none --out "$tdir/out" --quiet >/dev/null 2>"$tdir/err" \
      || { cat "$tdir/err" >&2; exit 1; }
    python3 -c 'import json, sys; e = json.load(open(sys.argv[1]))["epochs"][0]; print(e["train_seconds"], e["train_cpu_seconds"])' \
      "$tdir/out/results.json"
  done | awk 'function median(v, n,   i, j, t) {
      for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
      return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
    { w[NR] = $1; c[NR] = $2 } END { printf "%.6e %.6e\n", median(w, NR), median(c, NR) }'
}
# The OpenMP wait policy is the caller's: unset, libgomp's default keeps a
# finished team spinning for a while (GOMP_SPINCOUNT) before it sleeps, so
# back-to-back calls find their threads awake; a passive policy wakes them
# for every parallel region (tens of microseconds per call). On a machine
# shared with other jobs, OMP_WAIT_POLICY=passive keeps an idle thread off
# the core its partner needs (scripts/main.sh sets it).
wait_policy=${OMP_WAIT_POLICY:-"unset (libgomp's default)"}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -s "$spec" ]; then
  echo "aihwkit, 1 thread ..."
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 taskset -c 1 "$venv/bin/python" bench/peers/aihwkit_peer.py \
    --threads 1 --reps "$reps" <"$spec" | tee "$spec.aihwkit"
  echo "aimc, 1 thread ..."
  OMP_NUM_THREADS=1 taskset -c 1 "./$build/bench/bench_peer" --threads 1 --reps "$reps" <"$spec" \
    | tee "$spec.aimc1"
  echo "aimc, 2 threads ..."
  OMP_NUM_THREADS=2 taskset -c 0,1 "./$build/bench/bench_peer" --threads 2 --reps "$reps" <"$spec" \
    | tee "$spec.aimc2"
fi
# trainer lines: op config samples batch reps, then the median seconds of
# aihwkit, aimc 1 thread, aimc 2 threads, then the median CPU seconds of
# aihwkit and aimc on 1 thread
for tc in $trainer_configs; do
  IFS=: read -r config algorithm device <<<"$tc"
  echo "trainer $config, $trainer_samples samples: aihwkit 1 thread, aimc 1 thread, aimc 2 threads ..."
  read -r ta ca < <(OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 taskset -c 1 "$venv/bin/python" bench/peers/aihwkit_trainer_peer.py \
         --config "$config" --samples "$trainer_samples" --batch $trainer_batch --reps "$trainer_reps" \
         --threads 1 | awk '{ print $5, $6 }')
  read -r t1 c1 < <(aimc_trainer "$algorithm" "$device" 1 1)
  read -r t2 c2 < <(aimc_trainer "$algorithm" "$device" 2 0,1)
  [ -n "$ca" ] && [ -n "$c1" ] && [ -n "$c2" ] || { echo "trainer $config: a run failed" >&2; exit 1; }
  echo "trainer $config $trainer_samples $trainer_batch $trainer_reps $ta $t1 $t2 $ca $c1" | tee -a "$spec.trainer"
done

out=bench/results/cpu-vs-aihwkit.md
[ $quick -eq 1 ] && out=bench/results/cpu-vs-aihwkit-quick.md
[ $trainer_only -eq 1 ] && out=bench/results/cpu-vs-aihwkit-trainer.md
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
versions=$("$venv/bin/python" -c 'import aihwkit, torch; print(f"aihwkit {aihwkit.__version__}, torch {torch.__version__}")')
simd=$(grep -o -m1 -w 'avx512f' /proc/cpuinfo >/dev/null && echo avx512 || echo "avx2 or portable")
{
  echo "# aimc vs aihwkit on the CPU"
  echo
  echo "- machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB (shared with other jobs)"
  echo "- commit: ${commit}${dirty}; aimc's SIMD path: ${AIMC_CPU_SIMD:-automatic ($simd)}"
  echo "- peer: ${versions} (PyPI), Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'), the C++ tiles (\`AnalogTile(...).tile\`) driven from Python; trainer rows: \`AnalogSequential\` with \`AnalogSGD\` (bench/peers/aihwkit_trainer_peer.py)"
  echo "- command: \`bash bench/run_cpu_vs_aihwkit.sh $args\`"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "One thread each (\`taskset -c 1\`, \`OMP_NUM_THREADS=1\`, \`torch.set_num_threads(1)\`), in one"
  echo "run; times are medians of the repeats (column reps; with 1 repeat a single call, no warm-up)."
  if [ -s "$spec" ]; then
    echo "Every call covers every tile (aihwkit: a loop over the tiles). Configurations: aihwkit's"
    echo "defaults for the device (SoftBounds, ConstantStep, ExpStep: dw_min 0.001, dtod 0.3, c2c"
    echo "dw_min_std 0.3), the default update (BL 31, update and BL management, lr 0.01) and IO (7-bit"
    echo "DAC, 9-bit ADC, noise and bound management); c-TTv2 and AGAD: aihwkit's ChoppedTTv2ReRamSBPreset"
    echo "and AGADReRamSBPreset. x, d uniform in [-1, 1], weights uniform in [-0.3, 0.3]."
  fi
  echo "Trainer rows: one epoch of $trainer_samples Fashion-MNIST samples through 784-256-128-10 (sigmoid"
  echo "hidden layers, softmax cross entropy, digital biases, tiles of at most 512x512, batch"
  echo "$trainer_batch, lr 0.1: aimc-train's defaults, one seed) with aihwkit's matching preset and its IO"
  echo "(GokmenVlasovPreset; ChoppedTTv2ReRamSBPreset, AGADReRamSBPreset); the times are the training"
  echo "loop's alone (aimc-train's results.json train_seconds; data loading, test and checks excluded on"
  echo "both sides), each repeat a fresh network and, for aimc, a fresh process."
  echo "speed-up = aihwkit time / aimc time (1 thread); target: update 5x, reads 2x, c-TTv2/AGAD 3x,"
  echo "trainer 3x; 2T/1T: aimc's two-thread speed-up (target 1.8x for the update and for reads with"
  echo "batch >= 16), with OMP_WAIT_POLICY=$wait_policy; load average at the start: $load0."
  echo
  echo "| op | config | tiles x rows x cols | batch | reps | aihwkit ms | aimc ms | speed-up | target | aimc 2T ms | 2T/1T | 2T target |"
  echo "|---|---|---|--:|--:|--:|--:|--:|---|--:|--:|---|"
  [ -s "$spec" ] && paste -d' ' "$spec" "$spec.aihwkit" "$spec.aimc1" "$spec.aimc2" | awk '{
    op=$1; cfg=$2; reps=$7; ta=$14; t1=$21; t2=$28; batch=$6
    sp = ta / t1; s2 = t1 / t2
    tgt = (op == "update") ? ((cfg ~ /reramsb/) ? 3 : 5) : 2
    met = (sp >= tgt) ? "met" : "not met"
    t2tgt = (op == "update" || batch >= 16) ? ((s2 >= 1.8) ? "met" : "not met") : "-"
    printf "| %s | %s | %d x %dx%d | %d | %d | %.3f | %.3f | %.2f | %dx %s | %.3f | %.2f | %s |\n",
      op, cfg, $3, $4, $5, batch, reps, 1e3*ta, 1e3*t1, sp, tgt, met, 1e3*t2, s2, t2tgt }'
  awk '{
    cfg=$2; n=$3; batch=$4; reps=$5; ta=$6; t1=$7; t2=$8
    sp = ta / t1; s2 = t1 / t2
    printf "| trainer | %s | 784-256-128-10, %d samples | %d | %d | %.3f | %.3f | %.2f | 3x %s | %.3f | %.2f | - |\n",
      cfg, n, batch, reps, 1e3*ta, 1e3*t1, sp, (sp >= 3) ? "met" : "not met", 1e3*t2, s2 }' "$spec.trainer"
  echo
  echo "Trainer rows in samples per second of the training loop, and the one-thread speed-up by the"
  echo "loop's process CPU time (steadier than wall-clock time where other jobs share the cores):"
  echo
  echo "| config | aihwkit samples/s | aimc samples/s | aimc 2T samples/s | aihwkit CPU s | aimc CPU s | speed-up by CPU time |"
  echo "|---|--:|--:|--:|--:|--:|--:|"
  awk '{ printf "| %s | %.1f | %.1f | %.1f | %.3f | %.3f | %.2f |\n", $2, $3 / $6, $3 / $7, $3 / $8, $9, $10, $9 / $10 }' "$spec.trainer"
} >"$out"
echo "wrote $out"
