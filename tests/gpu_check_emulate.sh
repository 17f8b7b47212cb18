#!/usr/bin/env bash
# scripts/gpu_check.sh --emulate end to end (ctest gpu_check_emulate), so the
# GPU bring-up cannot rot between GPU windows: the build stage on this build
# folder (aimc-gpucheck-emu, up to date already), aimc-gpucheck-emu's small
# mode on a quick subset of the agreement tests, the packing. Checks what a
# GPU run relies on: the exit status, at most 8 files in $OUT (what the device
# tool brings back), the logs outside $OUT and complete in logs.tar.gz, the
# summary's stage rows; and that a failing gpucheck fails the script.
#
# Usage: gpu_check_emulate.sh SOURCE_DIR BUILD_DIR SCRATCH_DIR
set -uo pipefail
src=$1 build=$2 scratch=$3
rm -rf "$scratch"
mkdir -p "$scratch"
fails=0
check() { # description, then a command that must succeed
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; fails=$((fails + 1)); fi
}

# A quick subset (about 7 s under the emulation here): IO, devices, an update, the
# algorithms' transfers, a network round trip through a checkpoint.
quick="stream/,d2d/every_preset,update/long_trains,sgd/,tiki_taka/column,chopped_ttv2/regular"
quick="$quick,mixed_precision/presets,stellar/gated,panther/carry,weights/,reset/"
quick="$quick,mvm/default_perfect_standard,network/float_sgd_tanh"

OUT=$scratch/out AIMC_GPU_CHECK_LOGS=$scratch/logs bash "$src/scripts/gpu_check.sh" --emulate \
  --commit test-commit --build-dir "$build" --gpucheck-args "--filter $quick" >"$scratch/run.log" 2>&1
rc=$?
cat "$scratch/run.log"
check "gpu_check.sh --emulate exits 0 (got $rc)" test "$rc" -eq 0
n=$(find "$scratch/out" -type f | wc -l)
check "at most 8 files in \$OUT (got $n)" test "$n" -le 8
check "no file in \$OUT deeper than 2 folders or oddly named" \
  test -z "$(cd "$scratch/out" && find . -type f | grep -vE '^\./([A-Za-z0-9._-]+/){0,2}[A-Za-z0-9._-]+$')"
check "summary.md in \$OUT names the commit" grep -q 'commit: test-commit' "$scratch/out/summary.md"
for row in '| build | ok |' '| gpucheck | ok |' '| sanitize | skipped |' '| bench | skipped |'; do
  check "summary.md has '$row'" grep -qF "$row" "$scratch/out/summary.md"
done
check "summary.md holds gpucheck's table" grep -q '^| test_cuda_core.c | ok |' "$scratch/out/summary.md"
check "summary.md fits a page (<= 60 lines)" test "$(wc -l <"$scratch/out/summary.md")" -le 60
mkdir -p "$scratch/unpacked"
tar -xzf "$scratch/out/logs.tar.gz" -C "$scratch/unpacked"
check "logs.tar.gz holds gpucheck.log with its verdict" \
  grep -q '^aimc-gpucheck: all passed' "$scratch/unpacked/gpucheck.log"
check "logs.tar.gz holds build.log and stages.tsv" test -f "$scratch/unpacked/build.log" -a -f "$scratch/unpacked/stages.tsv"
check "the logs stay outside \$OUT" test -f "$scratch/logs/gpucheck.log" -a ! -e "$scratch/out/gpucheck.log"

# A failing check must fail the script and say so in the summary.
OUT=$scratch/out-fail AIMC_GPU_CHECK_LOGS=$scratch/logs-fail bash "$src/scripts/gpu_check.sh" \
  --emulate --build-dir "$build" --gpucheck-args "--filter no-such-test" gpucheck \
  >"$scratch/run-fail.log" 2>&1
rc=$?
check "a failing gpucheck makes gpu_check.sh exit 1 (got $rc)" test "$rc" -eq 1
check "and the summary says FAILED" grep -qF '| gpucheck | FAILED |' "$scratch/out-fail/summary.md"
# Bad usage is refused before anything runs.
bash "$src/scripts/gpu_check.sh" --emulate --budget 5 >/dev/null 2>&1
check "--budget 5 is refused with exit 2" test $? -eq 2

# The sanitize stage as on a GPU machine, with stand-ins: nvidia-smi, a
# checker, and a compute-sanitizer that either runs the checker (verdicts ok)
# or refuses the device as gVisor's runtime does ("Device not supported"),
# which must read UNSUPPORTED, fail the script and not run the other tools.
fake=$scratch/fake
mkdir -p "$fake/bin" "$fake/build/tools/gpucheck"
printf '#!/bin/sh\necho "GPU 0: stand-in"\n' >"$fake/bin/nvidia-smi"
printf '#!/bin/sh\necho "[  OK  ] stand-in"\n' >"$fake/build/tools/gpucheck/aimc-gpucheck"
cat >"$fake/bin/sanitizer-ok" <<'EOS'
#!/bin/sh
# --tool NAME --error-exitcode 9 CHECKER ARGS...
shift 4
"$@" && echo "========= ERROR SUMMARY: 0 errors"
EOS
cat >"$fake/bin/sanitizer-refused" <<'EOS'
#!/bin/sh
echo "========= Error: Device not supported"
exit 9
EOS
chmod +x "$fake/bin"/* "$fake/build/tools/gpucheck/aimc-gpucheck"
PATH="$fake/bin:$PATH" OUT=$scratch/out-san AIMC_GPU_CHECK_LOGS=$scratch/logs-san \
  AIMC_COMPUTE_SANITIZER=sanitizer-ok bash "$src/scripts/gpu_check.sh" --build-dir "$fake/build" \
  --budget 300 sanitize >"$scratch/run-san.log" 2>&1
rc=$?
check "the sanitize stage with a working sanitizer exits 0 (got $rc)" test "$rc" -eq 0
for tool in memcheck racecheck synccheck initcheck; do
  check "summary.md has '| sanitize $tool | ok |'" grep -qF "| sanitize $tool | ok |" "$scratch/out-san/summary.md"
done
PATH="$fake/bin:$PATH" OUT=$scratch/out-unsup AIMC_GPU_CHECK_LOGS=$scratch/logs-unsup \
  AIMC_COMPUTE_SANITIZER=sanitizer-refused bash "$src/scripts/gpu_check.sh" --build-dir "$fake/build" \
  --budget 300 sanitize >"$scratch/run-unsup.log" 2>&1
rc=$?
check "a refused sanitizer makes gpu_check.sh exit 1 (got $rc)" test "$rc" -eq 1
check "and the summary says UNSUPPORTED" grep -qF '| sanitize memcheck | UNSUPPORTED |' "$scratch/out-unsup/summary.md"
check "and racecheck was not run" test ! -e "$scratch/logs-unsup/sanitize-racecheck.log"

[ "$fails" -eq 0 ] || { echo "gpu_check_emulate: $fails check(s) failed"; exit 1; }
echo "gpu_check_emulate: all checks passed"
