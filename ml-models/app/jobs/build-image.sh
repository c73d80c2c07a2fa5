#!/usr/bin/env bash
# Build MODEL's image FROM the shared base (cpu or gpu) and tag it; prints the commands with --dry-run.
#   jobs/build-image.sh sentiment [cpu|gpu] [TAG] [--dry-run]
source "$(dirname "$0")/_common.sh"
[[ $# -ge 1 ]] || usage "MODEL [cpu|gpu] [TAG] [--dry-run]"
model="$1"; variant="${2:-cpu}"; tag="${3:-$(git -C "$ROOT" rev-parse --short HEAD)}"
[[ -d "$ROOT/ml-models/models/$model" ]] || { echo "no model folder ml-models/models/$model" >&2; exit 2; }
[[ "$variant" == cpu || "$variant" == gpu ]] || usage "MODEL [cpu|gpu] [TAG]"
registry="${IMAGE_REGISTRY:-inference-platform}"
run=(); [[ " $* " == *" --dry-run "* ]] && run=(echo)
"${run[@]}" docker build -f "$ROOT/ml-models/app/Dockerfile" --target "$variant" \
    -t "$registry/model-base:$variant-$tag" "$ROOT"
"${run[@]}" docker build -f "$ROOT/ml-models/models/$model/Dockerfile" \
    --build-arg "BASE_IMAGE=$registry/model-base:$variant-$tag" \
    -t "$registry/model-$model:$variant-$tag" "$ROOT"
