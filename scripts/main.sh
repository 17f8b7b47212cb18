#!/usr/bin/env bash
# Sets up, builds and runs the main job: aimc-train on its default task
# (Fashion-MNIST, 784-256-128-10, analog SGD on the Gokmen-Vlasov device,
# 3 seeds), on the GPU when the CUDA backend and a GPU are present, else on
# all CPU cores. Results go to aimc-train-out/. Extra arguments go to the
# trainer (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
# The CUDA backend only where a GPU can run it: compiling it takes minutes
# and a machine with nvcc but no GPU would run on the CPU anyway.
cuda=OFF
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then cuda=AUTO; fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAIMC_CUDA="$cuda" >/dev/null
cmake --build build -j"$(nproc)" --target aimc-train
# Idle OpenMP threads sleep instead of spinning (unless the caller chose):
# on a machine shared with other jobs a spinning thread takes the core its
# partner needs, and the trainer's many short parallel loops then run up to
# 5x slower on 2 threads than on 1 (measured on the 2-core VM, README).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
exec ./build/apps/aimc-train "$@"
