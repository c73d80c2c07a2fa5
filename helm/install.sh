#!/usr/bin/env bash
# Install or upgrade the platform chart with every model folder's values.yaml, then yours:
#   helm/install.sh -f my-values.yaml [any other `helm upgrade` option]
# An upgrade starts from the chart's new defaults and keeps what the last release was given
# (--reset-then-reuse-values, Helm 3.14 or later: an image tag jobs/deploy.sh set stays), then applies
# the files and options given here. The setup hook may take up to setup.activeDeadlineSeconds (600 s):
# Helm waits 15 minutes for it. RELEASE and NAMESPACE (default: inference) name where; DRY_RUN=1 prints
# the command; MODEL_VALUES=0 leaves the model folders' files out (they would undo your overrides).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
models=()
if [[ "${MODEL_VALUES:-1}" != 0 ]]; then
    for values in "$ROOT"/ml-models/models/*/values.yaml; do models+=(-f "$values"); done
fi
run=()
[[ -n "${DRY_RUN:-}" ]] && run=(echo)
${run[@]+"${run[@]}"} helm upgrade --install "${RELEASE:-inference}" "$ROOT/helm/inference-platform" \
    --namespace "${NAMESPACE:-inference}" --create-namespace --reset-then-reuse-values --timeout 15m \
    ${models[@]+"${models[@]}"} "$@"
