#!/usr/bin/env bash
# Train MODEL, log the run to MLflow and register the new version as @challenger.
#   jobs/train.sh sentiment [--limit N]
source "$(dirname "$0")/_common.sh"
[[ $# -ge 1 ]] || usage "MODEL [--limit N]"
model="$1"; shift
exec "$MODEL_RUNTIME" train --model "$model" --alias challenger "$@"
