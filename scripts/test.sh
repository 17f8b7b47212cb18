#!/usr/bin/env bash
# Sets up and runs the whole test suite: a release build (CUDA backend compiled
# when nvcc is present; its suites are skipped without a GPU) and an
# AddressSanitizer + UndefinedBehaviorSanitizer build of the CPU suites. Both
# also run the CUDA suites against the CPU emulation of CUDA (tests/cuda_emu),
# which checks the CUDA kernels against the CPU backend on any machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DAIMC_CUDA_EMULATION=ON
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure
# The Python package (python/) with PyTorch from PyPI, in a virtual
# environment kept in build-venv/ (re-used: pip skips what is installed).
# pytest exits non-zero when it collects no test, so a silent run fails.
python3 -m venv build-venv
build-venv/bin/pip install -q --disable-pip-version-check "torch==2.10.0" pytest numpy \
  "setuptools>=61" wheel
AIMC_LIBRARY="$PWD/build/libaimc.so.0" \
  build-venv/bin/pip install -q --disable-pip-version-check --no-build-isolation --force-reinstall \
  --no-deps ./python
build-venv/bin/python -m pytest -q python/tests
# The sanitizer build is also the -march=native build (AIMC_NATIVE): the option
# must compile, and on an AVX-512 machine every SIMD file then sees AVX-512.
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIMC_SANITIZE=ON -DAIMC_CUDA=OFF \
      -DAIMC_CUDA_EMULATION=ON -DAIMC_BUILD_BENCH=OFF -DAIMC_BUILD_APPS=OFF -DAIMC_NATIVE=ON
cmake --build build-asan -j"$jobs"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure
echo "aimc: all test suites passed (release and sanitizer builds)"
