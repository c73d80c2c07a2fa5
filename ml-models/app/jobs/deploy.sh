#!/usr/bin/env bash
# Ship MODEL's new image: upgrade the platform release with that image tag, every other value as the
# release has it (helm/install.sh without the model folders' files; a new model folder is installed by
# helm/install.sh -f your-values.yaml). The registry alias, not a redeploy, decides which version
# serves: deploy only ships code.
#   jobs/deploy.sh sentiment TAG [--dry-run]
source "$(dirname "$0")/_common.sh"
[[ $# -ge 2 ]] || usage "MODEL TAG [--dry-run]"
model="$1"; tag="$2"
[[ -f "$ROOT/ml-models/models/$model/values.yaml" ]] || { echo "no ml-models/models/$model/values.yaml" >&2; exit 2; }
[[ " $* " == *" --dry-run "* ]] && export DRY_RUN=1
# --set-string: a tag such as 20261207 stays a string (the schema refuses a number)
MODEL_VALUES=0 "$ROOT/helm/install.sh" --set-string "models.$model.image.tag=$tag" --wait
