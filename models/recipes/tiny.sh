#!/usr/bin/env bash
# Train the shared tokenizer and the four tiny models (same size, data, data order, steps
# and seed; only the positional scheme differs). Two trainings run at a time, one
# thread each. Logs go to models/weights/<name>/train.log.
#   bash models/recipes/tiny.sh [CORPUS_DIR]   (default: ../shared/corpus/tinystories)
set -euo pipefail
corpus=${1:-../shared/corpus/tinystories}
w=models/weights
mkdir -p "$w"
python -m models.tokenizer "$corpus/train.txt" --vocab-size 4096 --out "$w/tokenizer.json"
train() {  # name positional title
  mkdir -p "$w/$1"
  python -m models.train "$corpus/train.txt" --val "$corpus/val.txt" --out "$w/$1" \
    --tokenizer "$w/tokenizer.json" --positional "$2" --title "$3" --tokens 16e6 --seed 0 --threads 1 \
    >"$w/$1/train.log" 2>&1
}
train tiny-sinusoidal sinusoidal "Tiny, sinusoidal positions" & train tiny-learned learned "Tiny, learned positions" & wait
train tiny-rotary rotary "Tiny, rotary positions" & train tiny-nope none "Tiny, no positional encoding" & wait
rm "$w/tokenizer.json"
