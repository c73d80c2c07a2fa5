# Sourced by the job scripts: run the model-runtime CLI from the repository's virtualenv, or from
# PATH inside a model image. Settings come from the environment (MLFLOW_TRACKING_URI, MODELS_DIR, ...),
# and beside a running `make up` from the file it writes (.run/stack.env) for any that are unset.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
if [[ -x "$ROOT/.venv/bin/model-runtime" ]]; then
    MODEL_RUNTIME="$ROOT/.venv/bin/model-runtime"
else
    MODEL_RUNTIME="model-runtime"
fi
# Beside a running `make up`, the settings it wrote fill the variables this environment does not set.
if [[ -z "${STACK_ENV_FILE+set}" ]]; then
    export STACK_ENV_FILE="$ROOT/.run/stack.env"
fi
usage() { echo "usage: $0 $1" >&2; exit 2; }
