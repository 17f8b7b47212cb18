#!/usr/bin/env bash
# Sets up, builds and runs the main job: aimc-train on its default task
# (Fashion-MNIST, 784-256-128-10, analog SGD on the Gokmen-Vlasov device,
# 3 seeds), on the GPU when the CUDA backend and a GPU are present, else on
# all CPU cores. Results go to aimc-train-out/. Extra arguments go to the
# trainer (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target aimc-train
exec ./build/apps/aimc-train "$@"
