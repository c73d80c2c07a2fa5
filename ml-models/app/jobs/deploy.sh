#!/usr/bin/env bash
# Ship MODEL's new image: upgrade the platform release with that image tag, every other value kept
# (--reuse-values; a new model folder is installed by helm/install.sh with your values file). The registry alias, not a redeploy, decides which version serves:
# deploy only ships code.
#   jobs/deploy.sh sentiment TAG [--dry-run]
source "$(dirname "$0")/_common.sh"
[[ $# -ge 2 ]] || usage "MODEL TAG [--dry-run]"
model="$1"; tag="$2"
[[ -f "$ROOT/ml-models/models/$model/values.yaml" ]] || { echo "no ml-models/models/$model/values.yaml" >&2; exit 2; }
[[ " $* " == *" --dry-run "* ]] && export DRY_RUN=1
MODEL_VALUES=0 "$ROOT/helm/install.sh" --reuse-values --set "models.$model.image.tag=$tag" --wait
