#!/usr/bin/env bash
# Fuzzes the checkpoint loader (aimc_network_load) and aimc-train's
# validation of its own block in a checkpoint (apps/train/resume_block.c) with
# libFuzzer under AddressSanitizer and UndefinedBehaviorSanitizer.
#
# Usage: bash scripts/fuzz.sh [seconds]      (default 300)
#
# Builds the library with clang, sanitizers and coverage instrumentation in
# build-fuzz/ (apart from the main build), links tests/fuzz/fuzz_checkpoint.c
# as a libFuzzer binary, regenerates the seed checkpoints
# (tests/fuzz/make_corpus.c) and runs the fuzzer on them, on the committed
# corpus (tests/fuzz/corpus/: seeds and past reproducers) and on the corpus it
# grew in earlier runs (build-fuzz/work/corpus). A crash, a sanitizer report,
# a leak, a timeout (> 10 s per input) or an out-of-memory (> 2 GiB) stops it:
# the input is saved under tests/fuzz/crashes/ and the script exits non-zero.
# Replay one with: build-fuzz/fuzz_checkpoint tests/fuzz/crashes/<file>
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-300}
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: bash scripts/fuzz.sh [seconds]" >&2
  exit 2
fi

# clang with its libFuzzer and sanitizer runtimes, OpenMP for clang, zlib.
need=()
for pkg in clang libclang-rt-14-dev libomp-dev zlib1g-dev cmake make; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "fuzz: installing ${need[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

build="build-fuzz"
work="$build/work"
crashes="tests/fuzz/crashes"
count() { find "$1" -maxdepth 1 -type f | wc -l; }
jobs=$(nproc)

# The library: ASan + UBSan (AIMC_SANITIZE) and libFuzzer's coverage hooks.
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAIMC_SANITIZE=ON \
  -DAIMC_CUDA=OFF -DAIMC_BUILD_TESTS=OFF -DAIMC_BUILD_BENCH=OFF -DAIMC_BUILD_APPS=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
cmake --build "$build" --target aimc_static -j"$jobs" >/dev/null
flags=(-std=c11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror -Iinclude -I. -Iapps/train)
# aimc-train's block codec (and what it calls), linked into both programs
train=(apps/train/resume_block.c apps/train/options.c apps/train/report.c)
libs=("$build/libaimc.a" -lz -lm -fopenmp)
clang "${flags[@]}" -DAIMC_LIBFUZZER -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=all tests/fuzz/fuzz_checkpoint.c "${train[@]}" "${libs[@]}" \
  -o "$build/fuzz_checkpoint"
clang "${flags[@]}" -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
  tests/fuzz/make_corpus.c "${train[@]}" "${libs[@]}" -o "$build/make_corpus"

# Seeds: regenerated (they follow the build's data layout), then the corpus.
rm -rf "$work/seeds"
mkdir -p "$work/corpus" "$crashes"
"$build/make_corpus" "$work/seeds" >/dev/null
before=$(count "$crashes")

echo "fuzz: libFuzzer for ${seconds} s on $(count "$work/seeds") seeds," \
     "$(count tests/fuzz/corpus) committed inputs, $(count "$work/corpus") grown inputs"
log="$work/fuzz.log"
rm -rf "$work/tmp"
mkdir -p "$work/tmp"
set +e
TMPDIR="$PWD/$work/tmp" UBSAN_OPTIONS=print_stacktrace=1 "$build/fuzz_checkpoint" \
  -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
  -dict=tests/fuzz/checkpoint.dict -use_value_profile=1 -print_final_stats=1 \
  -artifact_prefix="$crashes/" \
  "$work/corpus" "$work/seeds" tests/fuzz/corpus >"$log" 2>&1
rc=$?
set -e
rm -rf "$work/tmp"

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
last=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -n1 || true)
cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
found=$(( $(count "$crashes") - before ))
echo "fuzz: ${seconds} s, ${execs:-?} executions (${speed:-?}/s), coverage ${cov:-?} edges," \
     "${ft:-?} features, corpus ${corp:-?}, ${found} new crash inputs, exit ${rc} (log: $log)"
rmdir "$crashes" 2>/dev/null || true # only kept when it holds reproducers
if [ "$rc" -ne 0 ] || [ "$found" -gt 0 ]; then
  grep -E 'ERROR|SUMMARY|runtime error|Test unit written|load returned' "$log" | head -n 20 >&2 ||
    true
  echo "fuzz: FAILED; reproducers in $crashes/ (replay: $build/fuzz_checkpoint FILE)" >&2
  exit 1
fi
