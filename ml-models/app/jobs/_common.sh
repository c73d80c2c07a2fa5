# Sourced by the job scripts: run the model-runtime CLI from the repository's virtualenv, or from
# PATH inside a model image. Settings come from the environment (MLFLOW_TRACKING_URI, MODELS_DIR, ...).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
if [[ -x "$ROOT/.venv/bin/model-runtime" ]]; then
    MODEL_RUNTIME="$ROOT/.venv/bin/model-runtime"
else
    MODEL_RUNTIME="model-runtime"
fi
usage() { echo "usage: $0 $1" >&2; exit 2; }
