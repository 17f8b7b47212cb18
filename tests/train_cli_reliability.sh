#!/usr/bin/env bash
# aimc-train under adversarial use (issue 11), on a tiny synthetic IDX set:
# divergence stops the run (exit 3, valid JSON, last good checkpoint kept); an
# output folder named like a gnuplot command injects nothing; edited trainer
# blocks in a checkpoint are refused by field; numeric options and lists are
# checked whole; the output folder is checked before training; stale
# checkpoint temporaries are removed. Every run is under `timeout`, so a hang
# fails.
#   train_cli_reliability.sh <aimc-train> <train_edit_block> <scratch folder>
set -euo pipefail
train=$1
edit_block=$2
work=$3
rm -rf "$work"
mkdir -p "$work/data"
# KEEP_GOING=1 reports every failed check instead of stopping at the first
# (to see what an older aimc-train gets wrong).
failures=0
fail() {
  echo "FAIL: $*" >&2
  [ -n "${KEEP_GOING:-}" ] || exit 1
  failures=$((failures + 1))
}
limit=120 # seconds per run: each takes well under 10 s on one core

# 200 training and 50 test images of 8x8 pixels, 4 classes (quadrant c lit).
perl "$(dirname "$0")/tiny_idx.pl" "$work/data" 200 50

data=(--data "$work/data" --train-subset 0 --max-tile 8 --progress lines)

# run NAME ARGS...: aimc-train under the time limit; exit status in $rc,
# output in $work/NAME.out and $work/NAME.err.
run() {
  local name=$1; shift
  set +e
  timeout "$limit" "$train" "$@" > "$work/$name.out" 2> "$work/$name.err"
  rc=$?
  set -e
  [ "$rc" != 124 ] || fail "$name: aimc-train $* hung (killed after $limit s)"
}
expect_rc() { # name want-rc
  [ "$rc" = "$2" ] || fail "$1: exit status $rc, expected $2: $(tail -n 5 "$work/$1.err")"
}
expect_msg() { # name text
  grep -q -- "$2" "$work/$1.err" || fail "$1: message lacks '$2': $(tail -n 5 "$work/$1.err")"
}
# valid_json FILE: parses as JSON (perl's core JSON::PP, else python3 or jq).
valid_json() {
  if perl -MJSON::PP -e 1 2>/dev/null; then
    perl -MJSON::PP -e 'local $/; open(my $f, "<", $ARGV[0]) or die; decode_json(<$f>)' "$1"
  elif command -v python3 >/dev/null; then
    python3 -m json.tool "$1" > /dev/null
  elif command -v jq >/dev/null; then
    jq . "$1" > /dev/null
  else
    fail "no JSON parser (perl JSON::PP, python3 or jq) to check $1"
  fi
}

# ---- 1. Divergence ------------------------------------------------------------------
# Float SGD with ReLU: a good first epoch at lr 0.05, then the step schedule
# multiplies the rate by 1e6 and the weights overflow in epoch 2.
blow=(--algorithm float-sgd --activation relu --layers 64,12,12,4 --seeds 2 --lr 0.05
      --lr-schedule step:1:1000000)
run diverge "${data[@]}" "${blow[@]}" --epochs 3 --out "$work/diverge"
expect_rc diverge 3
expect_msg diverge "training diverged in epoch 2"
expect_msg diverge "the checkpoint keeps the last good epoch"
valid_json "$work/diverge/results.json" || fail "diverge: results.json is not JSON"
grep -q '"stopped": "diverged in epoch 2' "$work/diverge/results.json" \
  || fail "diverge: results.json does not say why the run stopped"
grep -Eqi '(:|,|\[) *-?(nan|inf)' "$work/diverge/results.json" \
  && fail "diverge: nan or inf written as a number into results.json"
grep -Eqi '(^|,)-?(nan|inf)(,|$)' "$work/diverge/results.csv" \
  && fail "diverge: nan or inf written into results.csv"
rows=$(($(wc -l < "$work/diverge/results.csv") - 1))
[ "$rows" = 2 ] || fail "diverge: results.csv has $rows rows, expected epoch 1 x 2 replicas"
# the checkpoint holds the good epoch 1 and resumes; resuming diverges again
# (same schedule) and leaves the checkpoint byte for byte as it was
cp "$work/diverge/checkpoint.aimc" "$work/good.aimc"
run resume_good --resume "$work/diverge/checkpoint.aimc" --epochs 1 --data "$work/data" \
  --out "$work/diverge"
expect_rc resume_good 0
expect_msg resume_good "already holds 1 epochs"
run rediverge --resume "$work/diverge/checkpoint.aimc" --epochs 3 --data "$work/data" \
  --out "$work/diverge"
expect_rc rediverge 3
cmp -s "$work/good.aimc" "$work/diverge/checkpoint.aimc" \
  || fail "rediverge: the last good checkpoint was overwritten"
# diverging in the first epoch: no checkpoint, still valid JSON with no epochs
run diverge_first "${data[@]}" --algorithm float-sgd --activation relu --layers 64,12,12,4 \
  --seeds 1 --lr 999999 --epochs 2 --out "$work/diverge_first"
expect_rc diverge_first 3
expect_msg diverge_first "training diverged in epoch 1"
valid_json "$work/diverge_first/results.json" || fail "diverge_first: results.json is not JSON"
[ ! -e "$work/diverge_first/checkpoint.aimc" ] || fail "diverge_first: a diverged checkpoint"

# ---- 2. No command injection through the plot ------------------------------------------
# The folder name holds quotes, semicolons, backticks, $() and a newline; each
# trick would create a file named INJ* in the working or output folder.
mkdir -p "$work/inject"
weird=$'x\'; system "touch INJ1"; y=\' `touch INJ2` $(touch INJ3) "; ! touch INJ4\nset output \'INJ5\''
(cd "$work/inject" && run inject "${data[@]}" --algorithm float-sgd --layers 64,4 --seeds 1 \
  --lr 0.5 --epochs 2 --out "$weird" && expect_rc inject 0)
found=$(find "$work" -name 'INJ*' | head -n 3)
[ -z "$found" ] || fail "inject: gnuplot ran an injected command: $found"
[ -f "$work/inject/$weird/results.json" ] || fail "inject: no results in the oddly named folder"
valid_json "$work/inject/$weird/results.json" || fail "inject: results.json is not JSON"
if command -v gnuplot > /dev/null; then
  png="$work/inject/$weird/accuracy.png"
  [ -s "$png" ] || fail "inject: gnuplot is installed but accuracy.png was not written"
  [ "$(head -c 4 "$png" | od -An -c | tr -d ' ')" = "211PNG" ] || fail "inject: $png is not a PNG"
else
  echo "train_cli_reliability: gnuplot not installed: plot output not checked (injection was)"
fi

# ---- 3. Edited trainer blocks are refused by field -------------------------------------
run base "${data[@]}" --algorithm float-sgd --layers 64,6,4 --seeds 2 --lr 0.2 \
  --lr-schedule step:2:0.5 --epochs 1 --out "$work/base"
expect_rc base 0
"$edit_block" "$work/base/checkpoint.aimc" "$work/same.aimc" || fail "train_edit_block failed"
run same --resume "$work/same.aimc" --epochs 2 --data "$work/data" --out "$work/same"
expect_rc same 0 # the helper's re-save alone changes nothing the trainer checks
for edit in "seeds=0" "step_every=0" "n_sets=1000" "n_sweeps=5" "train_subset=-5" \
            "algorithm=99" "n_sizes=40" "activation=7" "schedule=9" "batch=0" "epochs=-1" \
            "replicas=5" "test_subset=-1" "lr_bits=0x7fc00000" "seeds=1"; do
  field=${edit%%=*}
  "$edit_block" "$work/base/checkpoint.aimc" "$work/edited.aimc" "$edit" \
    || fail "train_edit_block $edit failed"
  run "edit_$field" --resume "$work/edited.aimc" --epochs 2 --data "$work/data" \
    --out "$work/edited"
  expect_rc "edit_$field" 2
  expect_msg "edit_$field" "aimc-train block is refused"
  case $edit in
    lr_bits=*) expect_msg "edit_$field" "lr = nan" ;;
    replicas=*) expect_msg "edit_$field" "replicas = 5 but the network has 2" ;;
    seeds=1) expect_msg "edit_$field" "seeds x sweep values = 1 but the network has 2 replicas" ;;
    *) expect_msg "edit_$field" "$field = ${edit#*=}" ;;
  esac
done

# ---- 4. Numeric options and lists -----------------------------------------------------
# On the tiny data set with one epoch, so that an option wrongly accepted shows
# as a quick training run rather than one on the default data.
expect_error() { # expected-text args...
  local want=$1; shift
  run err "${data[@]}" --layers 64,4 --seeds 1 --epochs 1 "$@" --out "$work/err" \
    --checkpoint none
  expect_rc err 2
  expect_msg err "$want"
  grep -q "^epoch 1" "$work/err.err" && fail "aimc-train $*: trained before refusing"
  return 0
}
expect_error "--layers 784,,10: item 2 is empty" --layers 784,,10
expect_error "--layers 64,4,: item 3 is empty" --layers 64,4,
expect_error "--layers ,64,4: item 1 is empty" --layers ,64,4
expect_error "--lr 1e-50 is out of range" --lr 1e-50
expect_error "--lr 1e-40 is out of range" --lr 1e-40 # a denormal float
expect_error "--lr: 'nan' is not a finite number" --lr nan
expect_error "--lr: 'inf' is not a finite number" --lr inf
expect_error "--lr: '1e400' is not a finite number" --lr 1e400
expect_error "--lr 2e6 is out of range" --lr 2e6
expect_error "--seed nan is not an integer" --seed nan
expect_error "--batch 99999999999999999999 is not an integer" --batch 99999999999999999999
expect_error "--epochs inf is not an integer" --epochs inf
expect_error "--set: 'nan' is not a finite number" --set forward.out_noise=nan
expect_error "--set: '-inf' is not a finite number" --set forward.out_noise=-inf
expect_error "--sweep: '1e999' is not a finite number" --sweep forward.out_noise=0,1e999
expect_error "item 2 is empty" --sweep forward.out_noise=0,,0.1
expect_error "--lr-schedule step:99999999999:0.5" --lr-schedule step:99999999999:0.5
expect_error "--lr-schedule step:2:1e-50" --lr-schedule step:2:1e-50
expect_error "--lr-schedule step:2:nan" --lr-schedule step:2:nan
expect_error "--lr-schedule step:0:0.5" --lr-schedule step:0:0.5
# zero is a deliberate learning rate (frozen weights), accepted
run lr0 "${data[@]}" --layers 64,4 --seeds 1 --lr 0 --epochs 1 --out "$work/lr0" \
  --checkpoint none
expect_rc lr0 0

# ---- 5. The output folder is checked before training ----------------------------------
# /proc exists and is a folder, but nobody (root included) can create files in it.
if [ -d /proc ] && ! touch /proc/aimc-probe 2>/dev/null; then
  run out_ro "${data[@]}" --layers 64,4 --seeds 1 --epochs 1 --out /proc
  expect_rc out_ro 2
  expect_msg out_ro "--out: cannot write in the folder /proc"
  grep -q "^epoch 1" "$work/out_ro.err" && fail "out_ro: trained before checking --out"
  run ckpt_ro "${data[@]}" --layers 64,4 --seeds 1 --epochs 1 --out "$work/ckpt_ro" \
    --checkpoint /proc/x.aimc
  expect_rc ckpt_ro 2
  expect_msg ckpt_ro "--checkpoint: cannot write in the folder /proc"
  grep -q "^epoch 1" "$work/ckpt_ro.err" && fail "ckpt_ro: trained before checking --checkpoint"
else
  echo "train_cli_reliability: /proc is writable here: read-only folder case not checked"
fi
touch "$work/a_file"
run out_file "${data[@]}" --layers 64,4 --seeds 1 --epochs 1 --out "$work/a_file/sub"
expect_rc out_file 2
expect_msg out_file "cannot create the folder"

# Images wider than a layer takes (4097 x 4097 > 2^24 pixels; the product of a
# header's rows and columns can also pass 2^31, e.g. 46341 x 46341): a clear
# message, not an overflowed size. One all-zero image, gzipped (16 KB).
mkdir -p "$work/huge"
perl -e 'print pack("CCCC N N N", 0, 0, 8, 3, 1, 4097, 4097); print "\0" x (4097 * 4097)' |
  gzip -1 > "$work/huge/train-images-idx3-ubyte.gz"
perl -e 'print pack("CCCC N C", 0, 0, 8, 1, 1, 0)' > "$work/huge/train-labels-idx1-ubyte"
cp "$work/huge/train-images-idx3-ubyte.gz" "$work/huge/t10k-images-idx3-ubyte.gz"
cp "$work/huge/train-labels-idx1-ubyte" "$work/huge/t10k-labels-idx1-ubyte"
run huge --data "$work/huge" --seeds 1 --epochs 1 --out "$work/huge_out" --checkpoint none
expect_rc huge 2
expect_msg huge "images have 4097 x 4097 = 16785409 pixels, above the 16777216 inputs"

# ---- 6. Stale checkpoint temporaries ----------------------------------------------------
mkdir -p "$work/stale"
head -c 100000 /dev/zero > "$work/stale/checkpoint.aimc.tmp.Ab3xY9"  # a killed run's
head -c 10 /dev/zero > "$work/stale/checkpoint.aimc.tmp.Fresh1"      # being written now
head -c 10 /dev/zero > "$work/stale/checkpoint.aimc.tmp.toolong"     # not the pattern
head -c 10 /dev/zero > "$work/stale/other.aimc.tmp.Ab3xY9"           # another checkpoint
touch -d '-10 minutes' "$work/stale/checkpoint.aimc.tmp.Ab3xY9" \
  "$work/stale/checkpoint.aimc.tmp.toolong" "$work/stale/other.aimc.tmp.Ab3xY9"
run stale "${data[@]}" --layers 64,4 --seeds 1 --epochs 1 --out "$work/stale"
expect_rc stale 0
expect_msg stale "removed $work/stale/checkpoint.aimc.tmp.Ab3xY9 (100000 bytes)"
[ ! -e "$work/stale/checkpoint.aimc.tmp.Ab3xY9" ] || fail "stale: the stale temporary remains"
for keep in checkpoint.aimc.tmp.Fresh1 checkpoint.aimc.tmp.toolong other.aimc.tmp.Ab3xY9; do
  [ -e "$work/stale/$keep" ] || fail "stale: $keep was removed"
done
[ "$failures" = 0 ] || { echo "train_cli_reliability: $failures checks failed" >&2; exit 1; }
echo "train_cli_reliability: all checks passed"
