"""Each model folder's values.yaml renders the shared chart into valid Kubernetes manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "model-service"
MODEL_FOLDERS = sorted(p.parent for p in (ROOT / "ml-models" / "models").glob("*/model.toml"))
KUBERNETES_VERSION = "1.30.0"


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    rendered = helm.Chart.load(CHART).render(values, name="release", namespace="inference")
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


@pytest.mark.parametrize("folder", MODEL_FOLDERS, ids=lambda p: p.name)
def test_a_models_values_render_valid_manifests(folder: Path) -> None:
    values = yaml.safe_load((folder / "values.yaml").read_text())
    assert helm.lint(str(CHART), values, strict=False)["errors"] == []
    manifests = render(values)
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODEL_NAME"] == folder.name
    assert deployment["metadata"]["name"] == f"model-{folder.name}"


def test_gpu_values_request_a_gpu_and_tolerate_gpu_nodes() -> None:
    manifests = render({"model": {"name": "sentiment"}, "gpu": {"enabled": True, "count": 1}})
    (deployment,) = [m for m in manifests if m["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {e["name"]: e["value"] for e in container["env"]}["MODEL_DEVICE"] == "cuda"
    assert any(t["key"] == "nvidia.com/gpu" for t in pod["tolerations"])


def test_a_missing_model_name_is_refused() -> None:
    with pytest.raises(Exception, match=r"model\.name is required"):
        render({})
