#!/usr/bin/env bash
# Fashion-MNIST comparison of the training algorithms with aimc-train, written
# to bench/results/fashion-mnist.md (+ per-run CSV, JSON and plots in
# bench/results/fashion-mnist/) with the machine, commit and commands.
#
#   bash bench/run_fashion.sh [SUBSET EPOCHS SEEDS [TRAINER ARGS...]]
#
# The network is 784-256-128-10 (sigmoid) throughout. Every algorithm runs on
# aihwkit's ReRamSB-based preset with reference_std 0 and 0.5 (a sweep: one
# run holds both values and all seeds), on SUBSET training images (default
# 15000, 0 = all 60000) for EPOCHS epochs (default 2), SEEDS seeds (default 4),
# all tested on the 10000 test images. Float SGD is also run for 10 full
# epochs as the reference the targets refer to. Further arguments go to every
# run (e.g. --activation relu --lr-schedule cosine). The defaults fit a 2-core
# CPU in about two hours on one thread each; on a GPU use 0 10 4.
set -euo pipefail
cd "$(dirname "$0")/.."
command_args="$*"
subset=${1:-15000}
epochs=${2:-2}
seeds=${3:-4}
shift $(( $# < 3 ? $# : 3 ))
extra=("$@")
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target aimc-train >/dev/null
res=bench/results
out=$res/fashion-mnist
md=$res/fashion-mnist.md
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with uncommitted changes)" || true)
machine="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
common=(--train-subset "$subset" --epochs "$epochs" --seeds "$seeds" --progress lines "${extra[@]}")

# name | arguments
runs=(
  "float-sgd-full|--algorithm float-sgd --device idealized --train-subset 0 --epochs 10 --seeds $seeds --progress lines ${extra[*]}"
  "float-sgd|--algorithm float-sgd --device idealized ${common[*]}"
  "sgd|--algorithm sgd --device reram-sb --sweep device.reference_std=0,0.5 ${common[*]}"
  "ttv2|--algorithm ttv2 --device reram-sb --sweep fast_device.reference_std=0,0.5 ${common[*]}"
  "c-ttv2|--algorithm c-ttv2 --device reram-sb --sweep fast_device.reference_std=0,0.5 ${common[*]}"
  "agad|--algorithm agad --device reram-sb --sweep fast_device.reference_std=0,0.5 ${common[*]}"
  "c-ttv2-no-write-noise|--algorithm c-ttv2 --device reram-sb --sweep fast_device.reference_std=0,0.5 --set device.write_noise_std=0 --set fast_device.write_noise_std=0 ${common[*]}"
)

start_all=$(date +%s)
for r in "${runs[@]}"; do
  name=${r%%|*}
  args=${r#*|}
  echo "== $name: aimc-train $args" >&2
  # shellcheck disable=SC2086
  ./build/apps/aimc-train $args --out "$out/$name" --checkpoint "$work/$name.aimc" \
    > "$work/$name.table" 2> "$out/$name.log" || { echo "run $name failed" >&2; exit 1; }
  rm -f "$out/$name/accuracy.dat"
done
wall=$(( $(date +%s) - start_all ))

{
  echo "# Fashion-MNIST: the training algorithms on a ReRAM-like device"
  echo
  echo "- machine: $machine$(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name --format=csv,noheader | head -n1 | sed 's/^/, GPU /')"
  echo "- commit: ${commit}${dirty}"
  echo "- command: \`bash bench/run_fashion.sh $command_args\` (subset $subset, epochs $epochs, seeds $seeds); wall time ${wall} s"
  echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "Network 784-256-128-10, sigmoid, softmax cross-entropy, batch 10, learning rate 0.1"
  echo "(constant), tiles of at most 512 x 512 (the first layer is split over two tiles per replica)."
  echo "Per-run files: \`fashion-mnist/<run>/results.{csv,json}\`, \`accuracy.png\`; logs beside them."
  echo
  for r in "${runs[@]}"; do
    name=${r%%|*}
    args=${r#*|}
    echo "## $name"
    echo
    echo "\`aimc-train $args\`"
    echo
    echo '```'
    sed -n '/^aimc-train:/,/^results:/p' "$work/$name.table" | grep -v '^results:'
    echo '```'
    echo
  done
} > "$md"
echo "wrote $md" >&2
