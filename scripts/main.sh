#!/usr/bin/env bash
# Sets up, builds and runs the main job. Until the trainer lands this is
# aimc-demo: the weight-programming task on every device preset, on the GPU
# when the CUDA backend and a GPU are present, else on all CPU cores.
# Extra arguments go to the program (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target aimc-demo
exec ./build/apps/aimc-demo "$@"
