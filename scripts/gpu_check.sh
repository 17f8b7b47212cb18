#!/usr/bin/env bash
# The GPU bring-up in timed stages, shaped for a GPU machine lent for about
# 15 minutes (each command at most 10, the machine's start included) on a bare
# image: nvcc, CMake, PyTorch and compute-sanitizer, no Criterion, no network,
# no .git in the copied tree, and only 8 files brought back from $OUT.
#
# Usage: bash scripts/gpu_check.sh [OPTIONS] [STAGE ...]
# Stages (default: build gpucheck sanitize bench), each under its own timeout:
#   build     configure (once) and build aimc-gpucheck and bench_gpu for sm_90
#             only, with all cores and -Werror off (AIMC_WERROR=OFF)
#   gpucheck  aimc-gpucheck: every CUDA agreement test against the CPU backend,
#             bit for bit, then its short timing rows against a device copy
#   sanitize  compute-sanitizer memcheck, racecheck, synccheck and initcheck on
#             `aimc-gpucheck --small --no-bench` (sharing the stage's time)
#   bench     bench/run_gpu.sh on a short grid (--grid): bench_gpu against copy
#             and cuBLAS, and the PyTorch peer bench/peers/torch_peer.py
# Options:
#   --emulate       no GPU: build aimc-gpucheck-emu against the CPU emulation of
#                   CUDA and run its small mode; sanitize and bench are reported
#                   as skipped. The ctest entry gpu_check_emulate runs this.
#   --budget S      seconds for this whole invocation (default 450, with --emulate
#                   1500: build and gpucheck then get 900 s each): each stage's
#                   timeout is cut to what is left, less 20 s for packing; a stage
#                   with under 30 s left is skipped
#   --commit HASH   the commit being checked (else $AIMC_COMMIT, else the file
#                   .gpucheck/commit written here by --stamp, else git)
#   --stamp         write .gpucheck/commit (ignored by git) here and exit: carry
#                   ".gpucheck" to the GPU machine, whose copy has no .git
#   --build-dir D   build folder (default build-gpu, with --emulate build-gpucheck-emu)
#   --werror        keep -Werror (AIMC_WERROR=ON) in a fresh configure
#   --grid "ARGS"   bench/run_gpu.sh's options (default: --tiles 1024,4096
#                   --shapes 256 --batches 1,16,128)
#   --gpucheck-args "ARGS"  more options for aimc-gpucheck (e.g. --filter mvm/)
#
# Logs live OUTSIDE the output folder, in $AIMC_GPU_CHECK_LOGS (default
# /tmp/aimc-gpu-check), and are packed after every stage into $OUT (default
# out/gpu-check): summary.md (one page: stages, gpucheck's table, sanitizer
# verdicts, benchmark targets), logs.tar.gz (every log) and bench.md (the
# results file of the bench stage) -- three files, whatever is killed when.
# A later invocation on the same (still warm) machine adds to the same logs.
#
# Exit status: 0 every stage run passed, 1 a stage failed or timed out,
# 2 bad usage, 77 no GPU (and no --emulate).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
t_start=$(date +%s)

usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

emulate=0 budget= commit=${AIMC_COMMIT:-} build= werror=OFF stamp=0
grid="--tiles 1024,4096 --shapes 256 --batches 1,16,128"
gpucheck_args=""
stages=()
while [ $# -gt 0 ]; do
  case "$1" in
    --emulate) emulate=1 ;;
    --budget) budget=${2:-}; shift ;;
    --commit) commit=${2:-}; shift ;;
    --stamp) stamp=1 ;;
    --build-dir) build=${2:-}; shift ;;
    --werror) werror=ON ;;
    --grid) grid=${2:-}; shift ;;
    --gpucheck-args) gpucheck_args=${2:-}; shift ;;
    -h|--help) usage; exit 0 ;;
    build|gpucheck|sanitize|bench) stages+=("$1") ;;
    *) echo "gpu_check.sh: unknown option or stage '$1' (stages: build gpucheck sanitize bench)" >&2
       exit 2 ;;
  esac
  shift
done
# the emulation runs the kernels on CPU threads: minutes where a GPU takes seconds
[ -n "$budget" ] || budget=$([ "$emulate" = 1 ] && echo 1500 || echo 450)
if ! [[ "$budget" =~ ^[0-9]+$ ]] || [ "$budget" -lt 60 ] || [ "$budget" -gt 3600 ]; then
  echo "gpu_check.sh: --budget '$budget': expected whole seconds in [60, 3600]" >&2
  exit 2
fi
[ ${#stages[@]} -gt 0 ] || stages=(build gpucheck sanitize bench)

# ---- The commit: the GPU machine's copy has no .git ---------------------------------
git_commit() {
  local h
  h=$(git rev-parse HEAD 2>/dev/null) || return 1
  git diff --quiet HEAD -- 2>/dev/null || h="$h (with uncommitted changes)"
  echo "$h"
}
if [ "$stamp" = 1 ]; then
  h=$(git_commit) || { echo "gpu_check.sh: --stamp needs a git checkout" >&2; exit 2; }
  exclude=$(git rev-parse --git-path info/exclude)
  mkdir -p "$(dirname "$exclude")" .gpucheck
  grep -qx '/.gpucheck/' "$exclude" 2>/dev/null || echo '/.gpucheck/' >>"$exclude"
  echo "$h" >.gpucheck/commit
  echo "gpu_check.sh: wrote .gpucheck/commit ($h); carry \".gpucheck\" with the run"
  exit 0
fi
[ -n "$commit" ] || { [ -s .gpucheck/commit ] && commit=$(head -n 1 .gpucheck/commit); }
[ -n "$commit" ] || commit=$(git_commit) || commit="unknown (pass --commit or AIMC_COMMIT)"

# ---- Folders ----------------------------------------------------------------------
out=${OUT:-out/gpu-check}
logs=${AIMC_GPU_CHECK_LOGS:-/tmp/aimc-gpu-check}
mkdir -p "$out" "$logs" || exit 2
out=$(cd "$out" && pwd) logs=$(cd "$logs" && pwd)
case "$logs/" in "$out"/*) echo "gpu_check.sh: the logs ($logs) must lie outside \$OUT ($out)" >&2; exit 2 ;; esac
if [ "$emulate" = 1 ]; then
  build=${build:-build-gpucheck-emu}
  checker=$build/tools/gpucheck/aimc-gpucheck-emu
  # the emulation's device memory; the small mode needs far less
  export AIMC_EMU_MEMORY=${AIMC_EMU_MEMORY:-536870912}
else
  build=${build:-build-gpu}
  checker=$build/tools/gpucheck/aimc-gpucheck
fi
export PATH="/usr/local/cuda/bin:$PATH"
# zlib's header and library from scripts/gpu_bundle.sh when carried (.gpu)
cmake_prefix=()
bundle_lib=""
if [ -d .gpu/root ]; then
  cmake_prefix=(-DCMAKE_PREFIX_PATH="$PWD/.gpu/root/usr")
  # its libz.so.1 only where the system has none
  ldconfig -p 2>/dev/null | grep -q 'libz\.so\.1 ' || bundle_lib="$PWD/.gpu/root/lib/x86_64-linux-gnu"
fi
# only the programs built here see the bundle's libraries, not python3 (run_gpu.sh
# runs bench_gpu with $AIMC_BENCH_LD_PATH)
run_built=()
[ -n "$bundle_lib" ] && run_built=(env "LD_LIBRARY_PATH=$bundle_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")

# ---- Records, summary and packing ------------------------------------------------------
say() { echo "gpu_check: $*" | tee -a "$logs/gpu_check.log"; }
record() { # stage verdict seconds detail
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$logs/stages.tsv"
  say "$1: $2 in $3 s${4:+ -- $4}"
}
left() { echo $((budget - ($(date +%s) - t_start) - 20)); }
# a stage's timeout: its own, cut to what the budget leaves
stage_limit() { local l; l=$(left); [ "$l" -lt "$1" ] && echo "$l" || echo "$1"; }

machine_info() {
  echo "commit: $commit"
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  if [ "$emulate" = 1 ]; then
    echo "gpu: none (--emulate: the CPU emulation of CUDA, tests/cuda_emu/)"
  else
    echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1 || echo 'no nvidia-smi')"
    echo "nvcc: $(nvcc --version 2>/dev/null | tail -n 1 || echo none)"
  fi
  echo "host: $(uname -m), $(nproc) cores, $(${CC:-cc} --version 2>/dev/null | head -n 1), $(cmake --version 2>/dev/null | head -n 1)"
}

summary() {
  echo "# aimc GPU bring-up ($([ "$emulate" = 1 ] && echo "CUDA emulation, no GPU" || echo GPU))"
  echo
  sed 's/^/- /' "$logs/machine.txt"
  echo "- stages asked for: ${stages[*]}; logs: logs.tar.gz (also $logs there)"
  echo
  echo "| stage | verdict | s | detail |"
  echo "|:------|:--------|--:|:-------|"
  awk -F'\t' '{ printf("| %s | %s | %s | %s |\n", $1, $2, $3, $4) }' "$logs/stages.tsv" 2>/dev/null
  if [ -s "$logs/gpucheck.log" ]; then
    echo
    echo "## aimc-gpucheck"
    echo
    if grep -aq '^|' "$logs/gpucheck.log"; then
      grep -a '^|' "$logs/gpucheck.log"
    else # killed or crashed before its table: its last lines say where
      echo '```'
      tail -n 8 "$logs/gpucheck.log"
      echo '```'
    fi
    grep -a '^\[FAILED\]' "$logs/gpucheck.log" | head -n 5 | sed 's/^/    /'
  fi
  local f
  for f in "$logs"/sanitize-*.log; do
    [ -e "$f" ] || continue
    [ -n "${sane_header:-}" ] || { echo; echo "## compute-sanitizer (aimc-gpucheck --small --no-bench)"; echo; sane_header=1; }
    echo "- $(basename "$f" .log | sed 's/^sanitize-//'): $(grep -a 'ERROR SUMMARY' "$f" | tail -n 1 | sed 's/^=* *//')," \
         "$(grep -ac '^\[  OK  \]' "$f") tests ok, $(grep -ac '^\[FAILED\]' "$f") failed"
  done
  unset sane_header
  if [ -s "$logs/bench.md" ]; then
    echo
    echo "## Benchmark targets (bench.md)"
    awk '/^## Targets/ { on = 1; next } /^## / { on = 0 } on && /^\|/' "$logs/bench.md"
  fi
}

pack() {
  summary >"$logs/summary.md" 2>/dev/null
  cp "$logs/summary.md" "$out/summary.md"
  tar -czf "$out/logs.tar.gz.part" -C "$logs" . 2>/dev/null && mv "$out/logs.tar.gz.part" "$out/logs.tar.gz"
  [ -s "$logs/bench.md" ] && cp "$logs/bench.md" "$out/bench.md"
  return 0
}

# Runs "$@" under `timeout LIMIT`, output to the named log; sets rc (124: timed out).
timed() {
  local limit=$1 log=$2
  shift 2
  timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1
  rc=$?
}

# ---- Stages -----------------------------------------------------------------------------
status=0
fail() { status=1; }

stage_build() {
  local limit t0 cfg
  local own=300
  [ "$emulate" = 1 ] && own=900
  limit=$(stage_limit $own)
  t0=$(date +%s)
  local target=aimc-gpucheck
  if [ "$emulate" = 1 ]; then
    target=aimc-gpucheck-emu
    cfg=(-DAIMC_CUDA=OFF -DAIMC_CUDA_EMULATION=ON -DAIMC_BUILD_BENCH=OFF)
  else
    target="aimc-gpucheck bench_gpu"
    cfg=(-DAIMC_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DAIMC_BUILD_BENCH=ON)
  fi
  : >"$logs/build.log"
  if [ ! -f "$build/CMakeCache.txt" ]; then
    timed "$limit" "$logs/build.log" cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release \
      -DAIMC_BUILD_TESTS=OFF -DAIMC_BUILD_APPS=OFF -DAIMC_WERROR="$werror" "${cfg[@]}" "${cmake_prefix[@]}"
    if [ "$rc" -ne 0 ]; then
      record build "$([ $rc = 124 ] && echo TIMEOUT || echo FAILED)" $(($(date +%s) - t0)) \
        "configure: $(grep -a -m1 -i 'error' "$logs/build.log" | cut -c1-120)"
      fail; return 1
    fi
    mv "$logs/build.log" "$logs/configure.log"
  fi
  limit=$(stage_limit $((own - ($(date +%s) - t0))))
  # shellcheck disable=SC2086 # two targets
  timed "$limit" "$logs/build.log" cmake --build "$build" -j"$(nproc)" --target $target
  if [ "$rc" -ne 0 ]; then
    record build "$([ $rc = 124 ] && echo TIMEOUT || echo FAILED)" $(($(date +%s) - t0)) \
      "$(grep -a -m1 -E 'error|Error' "$logs/build.log" | cut -c1-140)"
    fail; return 1
  fi
  record build ok $(($(date +%s) - t0)) "$target in $build (AIMC_WERROR=$(grep -a '^AIMC_WERROR' "$build/CMakeCache.txt" | cut -d= -f2))"
}

stage_gpucheck() {
  local limit t0 args
  limit=$(stage_limit "$([ "$emulate" = 1 ] && echo 900 || echo 180)")
  t0=$(date +%s)
  args=()
  [ "$emulate" = 1 ] && args=(--small)
  # shellcheck disable=SC2206 # the user's options, split as given
  args+=($gpucheck_args)
  [ -x "$checker" ] || { record gpucheck FAILED 0 "$checker missing: run the build stage"; fail; return 1; }
  timed "$limit" "$logs/gpucheck.log" "${run_built[@]}" "$checker" "${args[@]}"
  local verdict=ok
  case $rc in
    0) ;;
    77) verdict=SKIPPED ;;
    124|137) verdict=TIMEOUT; fail ;;
    *) verdict=FAILED; fail ;;
  esac
  record gpucheck "$verdict" $(($(date +%s) - t0)) \
    "$(grep -a '^aimc-gpucheck: ' "$logs/gpucheck.log" | tail -n 1 | cut -c16-140) (exit $rc; $(grep -ac '^\[  OK  \]' "$logs/gpucheck.log") ok, $(grep -ac '^\[FAILED\]' "$logs/gpucheck.log") failed)"
  [ "$rc" = 77 ] && return 77
  return 0
}

stage_sanitize() {
  if [ "$emulate" = 1 ]; then
    record sanitize skipped 0 "--emulate: compute-sanitizer needs a GPU"
    return 0
  fi
  # $AIMC_COMPUTE_SANITIZER: another sanitizer command (the ctest's stand-in)
  local sanitizer=${AIMC_COMPUTE_SANITIZER:-compute-sanitizer}
  command -v "$sanitizer" >/dev/null 2>&1 ||
    { record sanitize FAILED 0 "$sanitizer is not on the PATH"; fail; return 1; }
  local tools=(memcheck racecheck synccheck initcheck) i limit t0 verdict
  for i in "${!tools[@]}"; do
    # the stage's time, shared equally among the tools still to run
    limit=$(stage_limit 600)
    limit=$((limit / (${#tools[@]} - i)))
    limit=$((limit > 150 ? 150 : limit))
    if [ "$limit" -lt 30 ]; then
      record "sanitize ${tools[$i]}" skipped 0 "no time left in --budget $budget"
      continue
    fi
    t0=$(date +%s)
    # shellcheck disable=SC2086
    timed "$limit" "$logs/sanitize-${tools[$i]}.log" "${run_built[@]}" "$sanitizer" --tool "${tools[$i]}" \
      --error-exitcode 9 "$checker" --small --no-bench $gpucheck_args
    case $rc in
      0) verdict=ok ;;
      124|137) verdict=TIMEOUT; fail ;;
      *) verdict=FAILED; fail ;;
    esac
    # Some machines' runtimes refuse the sanitizer (seen on gVisor: "Device not
    # supported", then error 999): no verdict on the code, and the other tools
    # would only fail the same way, so say so (the stage still fails: its
    # verdicts are missing) and leave their time to the next stage.
    if [ "$rc" != 0 ] && grep -aq 'Device not supported' "$logs/sanitize-${tools[$i]}.log"; then
      record "sanitize ${tools[$i]}" UNSUPPORTED $(($(date +%s) - t0)) \
        "exit $rc; compute-sanitizer: 'Device not supported' on this machine, no verdict (other tools not run; try kind nvidia-h100-x1)"
      pack
      return 1
    fi
    record "sanitize ${tools[$i]}" "$verdict" $(($(date +%s) - t0)) \
      "exit $rc; $(grep -a 'ERROR SUMMARY' "$logs/sanitize-${tools[$i]}.log" | tail -n 1 | sed 's/^=* *//'); $(grep -ac '^\[  OK  \]' "$logs/sanitize-${tools[$i]}.log") tests ok"
    pack
  done
}

stage_bench() {
  if [ "$emulate" = 1 ]; then
    record bench skipped 0 "--emulate: no GPU (gpucheck's small timing rows ran in its stage)"
    return 0
  fi
  local limit t0
  limit=$(stage_limit 420)
  t0=$(date +%s)
  # shellcheck disable=SC2086 # the grid's options
  timed "$limit" "$logs/bench.log" env AIMC_BUILD_DIR="$build" AIMC_BENCH_COMMIT="$commit" \
    AIMC_BENCH_OUT="$logs/bench.md" AIMC_BENCH_TMP="$logs/bench-raw" AIMC_BENCH_LD_PATH="$bundle_lib" \
    bash bench/run_gpu.sh $grid
  local verdict=ok
  case $rc in
    0) ;;
    124|137) verdict=TIMEOUT; fail ;;
    *) verdict=FAILED; fail ;;
  esac
  record bench "$verdict" $(($(date +%s) - t0)) \
    "exit $rc; bench/run_gpu.sh $grid; $(grep -c ',ok,' "$logs/bench-raw/aimc.csv" 2>/dev/null || echo 0) aimc rows ok (bench-raw/ has the rows so far)"
}

# ---- Run ---------------------------------------------------------------------------------
machine_info >"$logs/machine.txt"
say "commit $commit; stages ${stages[*]}; budget $budget s; logs in $logs, results in $out"
if [ "$emulate" = 0 ] && ! nvidia-smi -L >/dev/null 2>&1; then
  record setup SKIPPED 0 "no GPU here (nvidia-smi finds none): use --emulate"
  pack
  exit 77
fi
for stage in "${stages[@]}"; do
  if [ "$(left)" -lt 30 ]; then
    record "$stage" skipped 0 "no time left in --budget $budget"
    continue
  fi
  "stage_$stage"
  src=$?
  pack
  # nothing after a failed build can run; without a GPU nothing else can either
  if [ "$stage" = build ] && [ "$src" -ne 0 ]; then break; fi
  if [ "$src" = 77 ]; then status=77; break; fi
done
record total "$([ $status = 0 ] && echo ok || echo "exit $status")" $(($(date +%s) - t_start)) "budget $budget s"
pack
exit $status
