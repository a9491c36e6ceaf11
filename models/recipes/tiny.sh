#!/usr/bin/env bash
# Train the shared tokenizer and the five tiny models (same size, data, data order, steps
# and seed; only the positional scheme differs). Two trainings run at a time, one
# thread each. Logs go to models/weights/<name>/train.log. tiny-sinusoidal, the default
# model, also records 12 checkpoints of its training (models/weights/tiny-sinusoidal/checkpoints).
#   bash models/recipes/tiny.sh [CORPUS_DIR]      (default: data/tinystories)
# Environment:
#   PYTHON=...       the Python to run (default: .venv/bin/python where it exists, else python3)
#   ONLY="a b"       train only these models (names as below)
#   TOKENIZER=FILE   use this tokenizer.json instead of training one (e.g. the shipped models' own, so that a
#                    model trained alone shares their vocabulary)
set -euo pipefail
cd "$(dirname "$0")/../.."
corpus=${1:-data/tinystories}
py=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
w=models/weights
tok=$(mktemp -d)/tokenizer.json
if [ -n "${TOKENIZER:-}" ]; then cp "$TOKENIZER" "$tok"; else "$py" -m models.tokenizer "$corpus/train.txt" --vocab-size 4096 --out "$tok"; fi
train() {  # name positional title [more options]
  local name=$1 positional=$2 title=$3
  shift 3
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return 0; fi
  mkdir -p "$w/$name"
  "$py" -m models.train "$corpus/train.txt" --val "$corpus/val.txt" --out "$w/$name" \
    --tokenizer "$tok" --positional "$positional" --title "$title" --tokens 16e6 --seed 0 --threads 1 --force "$@" \
    >"$w/$name/train.log" 2>&1
}
train tiny-sinusoidal sinusoidal "Tiny, sinusoidal positions" --checkpoints 12 & train tiny-learned learned "Tiny, learned positions" & wait
train tiny-rotary rotary "Tiny, rotary positions" & train tiny-nope none "Tiny, no positional encoding" & wait
train tiny-alibi alibi "Tiny, ALiBi (linear biases on the scores)"
rm -r "$(dirname "$tok")"
