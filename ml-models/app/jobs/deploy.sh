#!/usr/bin/env bash
# Deploy (or upgrade) MODEL's worker with the shared chart and the model's own values.yaml.
# The registry alias, not a redeploy, decides which version serves: deploy only ships code.
#   jobs/deploy.sh sentiment TAG [--dry-run]
source "$(dirname "$0")/_common.sh"
[[ $# -ge 2 ]] || usage "MODEL TAG [--dry-run]"
model="$1"; tag="$2"
values="$ROOT/ml-models/models/$model/values.yaml"
[[ -f "$values" ]] || { echo "no $values" >&2; exit 2; }
run=(); [[ " $* " == *" --dry-run "* ]] && run=(echo)
"${run[@]}" helm upgrade --install "model-$model" "$ROOT/helm/model-service" \
    --namespace "${NAMESPACE:-inference}" -f "$values" --set "image.tag=$tag" --wait
