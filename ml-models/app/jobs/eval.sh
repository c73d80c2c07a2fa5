#!/usr/bin/env bash
# Score a version of MODEL on its held-out data (VERSION: a number or an alias; default challenger),
# then promote the challenger if it beats the champion by MARGIN on the model's declared metric.
#   jobs/eval.sh sentiment                      # score @challenger
#   jobs/eval.sh sentiment 3                    # score version 3
#   jobs/eval.sh sentiment --promote 0.005      # score both, promote only if better by 0.005
#   jobs/eval.sh sentiment --rollback           # champion back to the previous champion
source "$(dirname "$0")/_common.sh"
[[ $# -ge 1 ]] || usage "MODEL [VERSION | --promote MARGIN | --rollback] [--limit N]"
model="$1"; shift
case "${1:-}" in
    --promote) margin="${2:?--promote needs a margin}"; shift 2
               exec "$MODEL_RUNTIME" promote --model "$model" --margin "$margin" "$@" ;;
    --rollback) shift; exec "$MODEL_RUNTIME" rollback --model "$model" "$@" ;;
    ""|--*) exec "$MODEL_RUNTIME" eval --model "$model" "$@" ;;
    *) version="$1"; shift; exec "$MODEL_RUNTIME" eval --model "$model" --version "$version" "$@" ;;
esac
