"""The platform chart (helm/inference-platform) renders valid manifests with every model folder's values:
with a GPU model, KEDA on and off, the ingress on and off, the Prometheus operator's and Grafana's objects
on. Kubernetes objects are checked against the 1.30 schemas, KEDA's and the Prometheus operator's against
their CRDs' own schemas (tests/fixtures/crds); wrong values fail at render, through values.schema.json."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml

from inference_core.aws.iam import Account, policies
from inference_core.settings import ResourceNames
from support.metrics import exposed_families, is_exposed, metrics_read_by

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "inference-platform"
MODEL_VALUES = sorted((ROOT / "ml-models" / "models").glob("*/values.yaml"))
CRDS = ROOT / "tests" / "fixtures" / "crds"
KUBERNETES_VERSION = "1.30.0"
ACCOUNT = "123456789012"
MODELS = sorted(path.parent.name for path in MODEL_VALUES)
# What an operator must give beyond the chart's and the model folders' values (KEDA reads a model's
# queues with its worker's role).
REQUIRED = {
    "existingSecret": "platform-secrets",
    "aws": {"accountId": ACCOUNT, "roles": {f"worker-{m}": f"arn:aws:iam::{ACCOUNT}:role/worker-{m}" for m in MODELS}},
}
IMAGE_COMMANDS = {  # the gateway image installs these two packages (gateway-service/Dockerfile)
    name
    for project in ("gateway-service", "inference-core")
    for name in tomllib.loads((ROOT / project / "pyproject.toml").read_text())["project"]["scripts"]
}


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Values files layered as `helm -f a -f b` does: maps merge, anything else is replaced."""
    result: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = merged(result[key], value)
            else:
                result[key] = copy.deepcopy(value)
    return result


def folder_values() -> dict[str, Any]:
    """Every model folder's values.yaml, as helm/install.sh passes them."""
    return merged(*(yaml.safe_load(path.read_text()) for path in MODEL_VALUES))


def render(*overrides: dict[str, Any], release: str = "inference") -> list[dict[str, Any]]:
    values = merged(folder_values(), REQUIRED, *overrides)
    rendered = helm.Chart.load(CHART).render(values, name=release, namespace="inference")
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    found = {}
    for path in CRDS.glob("*.json"):
        crd = json.loads(path.read_text())
        found[(crd["apiVersion"], crd["kind"])] = strict(crd["openAPIV3Schema"])
    return found


def strict(schema: Any) -> Any:
    """An unknown field fails, as the API server's strict field validation (kubectl's default) fails it."""
    if isinstance(schema, list):
        return [strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    schema = {key: strict(value) for key, value in schema.items()}
    open_ended = "additionalProperties" in schema or schema.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in schema and not open_ended:
        schema["additionalProperties"] = False
    return schema


def validate(manifests: list[dict[str, Any]]) -> None:
    custom = crd_schemas()
    for manifest in manifests:
        key = (manifest["apiVersion"], manifest["kind"])
        if key in custom:  # structural OpenAPI schemas; Go's regex dialect is not checked as a Python one
            errors = [e.message for e in jsonschema.Draft7Validator(custom[key]).iter_errors(manifest)]
            assert not errors, (manifest["kind"], manifest["metadata"]["name"], errors)
        else:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def of_kind(manifests: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def pod_specs(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    pods = {}
    for m in manifests:
        if m["kind"] in ("Deployment", "Job"):
            pods[m["metadata"]["name"]] = m["spec"]["template"]["spec"]
        elif m["kind"] == "CronJob":
            pods[m["metadata"]["name"]] = m["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return pods


def env_of(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", [])}


VARIANTS = {
    "defaults": {},
    "gpu-model": {"models": {"sentiment": {"gpu": {"enabled": True}}}},
    "keda-off": {"keda": {"enabled": False}},
    "ingress-on": {"gateway": {"ingress": {"enabled": True, "host": "inference.example.com", "tlsSecretName": "tls"}}},
    "everything-on": {
        "annotationSync": {"enabled": True},
        "metrics": {n: {"enabled": True} for n in ("serviceMonitor", "prometheusRule", "grafanaDashboard")},
        "aws": {"roles": {"gateway": f"arn:aws:iam::{ACCOUNT}:role/gateway"}},
        "imagePullSecrets": [{"name": "registry"}],
    },
}


@pytest.mark.parametrize("variant", VARIANTS.values(), ids=VARIANTS.keys())
def test_each_variant_lints_and_renders_valid_manifests(variant: dict[str, Any]) -> None:
    values = merged(folder_values(), REQUIRED, variant)
    assert helm.lint(str(CHART), values, strict=True)["errors"] == []
    manifests = render(variant)
    validate(manifests)
    names = [(m["kind"], m["metadata"]["name"]) for m in manifests]
    assert len(names) == len(set(names))


def test_every_model_folder_gets_a_worker_scaled_by_keda_on_its_two_queues() -> None:
    manifests = render({"config": {"RESOURCE_PREFIX": "prod-"}})
    models = MODELS
    assert models and sorted(folder_values()["models"]) == models  # each folder's entry is named as the folder
    deployments, scaled = of_kind(manifests, "Deployment"), of_kind(manifests, "ScaledObject")
    names = ResourceNames(prefix="prod-")
    for model in models:
        worker = deployments[f"inference-model-{model}"]
        container = worker["spec"]["template"]["spec"]["containers"][0]
        assert env_of(container)["MODEL_NAME"] == model and container["args"] == ["serve"]
        assert "replicas" not in worker["spec"]  # KEDA owns it
        triggers = scaled[f"inference-model-{model}"]["spec"]["triggers"]
        assert {t["type"] for t in triggers} == {"aws-sqs-queue"}
        urls = {t["metadata"]["queueURL"] for t in triggers}
        assert urls == {
            f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT}/{queue}"
            for queue in (names.model_queue(model), names.priority_queue(model))
        }
        own = yaml.safe_load((ROOT / "ml-models" / "models" / model / "values.yaml").read_text())["models"][model]
        assert {t["metadata"]["queueLength"] for t in triggers} == {str(own["autoscaling"]["queueLength"])}
    assert not of_kind(manifests, "HorizontalPodAutoscaler").keys() - {"inference-gateway"}


def test_a_model_may_scale_to_zero_with_keda_but_not_with_the_cpu_autoscaler() -> None:
    to_zero = {"models": {"sentiment": {"autoscaling": {"minReplicas": 0}}}}
    scaled = of_kind(render(to_zero), "ScaledObject")["inference-model-sentiment"]
    assert scaled["spec"]["minReplicaCount"] == 0  # a model's 0 wins over the default 1
    with pytest.raises(helm.HelmError, match="only KEDA scales to zero"):
        render(to_zero, {"keda": {"enabled": False}})


def test_without_keda_each_model_has_a_cpu_autoscaler() -> None:
    manifests = render({"keda": {"enabled": False}})
    assert not of_kind(manifests, "ScaledObject") and not of_kind(manifests, "TriggerAuthentication")
    hpa = of_kind(manifests, "HorizontalPodAutoscaler")["inference-model-embedding"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_a_gpu_model_requests_a_gpu_on_a_gpu_node_and_serves_with_cuda() -> None:
    manifests = render(VARIANTS["gpu-model"])
    pods = pod_specs(manifests)
    gpu, cpu = pods["inference-model-sentiment"], pods["inference-model-embedding"]
    container = gpu["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert env_of(container)["MODEL_DEVICE"] == "cuda"
    assert gpu["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["tolerations"])
    assert env_of(cpu["containers"][0])["MODEL_DEVICE"] == "cpu" and "nodeSelector" not in cpu


def test_the_ingress_serves_the_api_only_when_enabled() -> None:
    assert not of_kind(render(), "Ingress")
    ingress = of_kind(render(VARIANTS["ingress-on"]), "Ingress")["inference-gateway"]
    paths = {p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]}
    assert paths == {"/v1", "/openapi.json"}  # not /metrics, /healthz, /readyz
    assert ingress["spec"]["tls"] == [{"hosts": ["inference.example.com"], "secretName": "tls"}]


def test_every_pod_runs_as_non_root_on_a_read_only_root_filesystem() -> None:
    for name, pod in pod_specs(render(VARIANTS["everything-on"])).items():
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0, name
        assert pod["imagePullSecrets"] == [{"name": "registry"}], name
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, (name, container["name"])
            assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
            assert "limits" in container["resources"] and "requests" in container["resources"]


def test_the_gateway_is_probed_kept_available_and_autoscaled() -> None:
    manifests = render()
    gateway = pod_specs(manifests)["inference-gateway"]["containers"][0]
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["args"][0] == "gateway-server"
    assert of_kind(manifests, "PodDisruptionBudget")["inference-gateway"]["spec"]["minAvailable"] == 1
    assert of_kind(manifests, "HorizontalPodAutoscaler")["inference-gateway"]["spec"]["minReplicas"] >= 2
    assert of_kind(manifests, "Deployment")["inference-dispatcher"]["spec"]["replicas"] >= 2


def test_migrations_and_provisioning_run_as_a_hook_before_install_and_upgrade() -> None:
    manifests = render()
    job = of_kind(manifests, "Job")["inference-setup"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    account = of_kind(manifests, "ServiceAccount")["inference-setup"]  # hooks run before the release's objects
    assert account["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(account["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    pod = job["spec"]["template"]["spec"]
    assert [c["args"] for c in pod["initContainers"]] == [["inference-aws", "provision"]]
    assert [c["args"] for c in pod["containers"]] == [["gateway-admin", "setup"]]
    configmap = of_kind(manifests, "ConfigMap")["inference-config"]["data"]
    assert env_of(pod["containers"][0]) == configmap  # the hook reads the settings the services read
    without = of_kind(render({"setup": {"provision": False}}), "Job")["inference-setup"]["spec"]["template"]["spec"]
    assert "initContainers" not in without


def test_every_command_the_gateway_image_runs_is_one_of_its_packages_scripts() -> None:
    manifests = render(VARIANTS["everything-on"])
    for name, pod in pod_specs(manifests).items():
        for container in pod["containers"] + pod.get("initContainers", []):
            if container["image"].startswith("inference-platform/gateway:"):
                assert container["args"][0] in IMAGE_COMMANDS, (name, container["args"])


def test_secrets_come_only_from_the_existing_secret() -> None:
    manifests = render()
    assert not of_kind(manifests, "Secret")
    configmap = of_kind(manifests, "ConfigMap")["inference-config"]["data"]
    assert not {"DATABASE_URL", "REDIS_URL", "LABEL_STUDIO_API_KEY"} & configmap.keys()
    for name, pod in pod_specs(manifests).items():
        for container in pod["containers"]:
            sources = [s for s in container.get("envFrom", []) if "secretRef" in s]
            assert name == "inference-setup" or sources == [{"secretRef": {"name": "platform-secrets"}}], name
    with pytest.raises(helm.HelmError, match="existingSecret is required"):
        render({"existingSecret": ""})


def test_each_service_account_gets_the_role_of_its_own_policy() -> None:
    models = sorted(folder_values()["models"])
    generated = policies(ResourceNames(), models, Account(ACCOUNT, "us-east-1"))
    roles = {policy: f"arn:aws:iam::{ACCOUNT}:role/{policy}" for policy in generated}
    manifests = render({"aws": {"roles": roles}})
    annotated = {
        m["metadata"]["name"]: m["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn")
        for m in of_kind(manifests, "ServiceAccount").values()
    }
    # each policy `inference-aws iam-policies` writes has its ServiceAccount (admin's for gateway-admin dlq)
    assert {arn.rsplit("/", 1)[1] for arn in annotated.values() if arn} == set(roles)
    assert annotated["inference-gateway"] == roles["gateway"]
    assert annotated["inference-model-sentiment"] == roles["worker-sentiment"]
    assert annotated["inference-setup"] == roles["provisioner"]
    assert annotated["inference-admin"] == roles["admin"]
    pods = pod_specs(manifests)
    assert pods["inference-dispatcher"]["serviceAccountName"] == "inference-dispatcher"


def test_the_scheduled_jobs_run_on_their_schedules_never_two_at_once() -> None:
    cronjobs = of_kind(render(VARIANTS["everything-on"]), "CronJob")
    schedules = {name: job["spec"]["schedule"] for name, job in cronjobs.items()}
    assert schedules == {"inference-monitoring-job": "0 * * * *", "inference-annotation-sync": "*/10 * * * *"}
    for job in cronjobs.values():
        spec = job["spec"]
        assert spec["concurrencyPolicy"] == "Forbid" and spec["startingDeadlineSeconds"] > 0
        pod = spec["jobTemplate"]["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never" and pod["containers"][0]["args"] == ["run"]
    assert not of_kind(render({"monitoringJob": {"enabled": False}}), "CronJob")  # annotation is off by default


def test_the_prometheus_rule_is_the_rule_file_promtool_checks() -> None:
    rule = of_kind(render(VARIANTS["everything-on"]), "PrometheusRule")["inference"]
    assert rule["spec"] == yaml.safe_load((CHART / "files" / "alerts.yaml").read_text())


def test_the_service_monitor_scrapes_every_service_of_the_platform() -> None:
    manifests = render(VARIANTS["everything-on"])
    (monitor,) = of_kind(manifests, "ServiceMonitor").values()
    selector = monitor["spec"]["selector"]["matchLabels"]
    port = monitor["spec"]["endpoints"][0]["port"]
    services = of_kind(manifests, "Service")
    scraped = {
        name
        for name, s in services.items()
        if selector.items() <= s["metadata"]["labels"].items() and port in {p["name"] for p in s["spec"]["ports"]}
    }
    models = {f"inference-model-{m}" for m in folder_values()["models"]}
    assert scraped == {"inference-gateway", "inference-dispatcher", *models}


def test_the_dashboard_reads_only_metrics_the_platform_exposes_in_valid_promql() -> None:
    dashboard = json.loads((CHART / "files" / "dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    known = exposed_families()
    assert len(exprs) >= 10
    for expr in exprs:
        names = metrics_read_by(expr)
        assert names and all(is_exposed(n, known) for n in names), (expr, names)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make venvs` installs it"
    rules = {
        "groups": [{"name": "dashboard", "rules": [{"record": f"panel:{i}", "expr": e} for i, e in enumerate(exprs)]}]
    }
    checked = subprocess.run(
        [promtool, "check", "rules", "/dev/stdin"],
        input=yaml.safe_dump(rules),
        text=True,
        capture_output=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    configmap = of_kind(render(VARIANTS["everything-on"]), "ConfigMap")["inference-dashboard"]
    assert json.loads(configmap["data"]["inference-platform.json"]) == dashboard


@pytest.mark.parametrize(
    "wrong",
    [
        {"config": {"LOG_FORMAT": "xml"}},
        {"config": {"AWS_REGION": "Virginia"}},
        {"aws": {"accountId": "1234"}},
        {"aws": {"roles": {"gatway": "arn:aws:iam::123456789012:role/x"}}},
        {"models": {"sentiment": {"autoscaling": {"queueLength": 0}}}},
        {"models": {"sentiment": {"gpu": {"enabled": "yes"}}}},
        {"models": {"Bad Name": {}}},
        {"models": {"snake_case": {}}},
        {"models": {"m" * 41: {}}},
        {"config": {"RESOURCE_PREFIX": "Prod_"}},
        {"monitoringJob": {"schedule": "hourly"}},
        {"annotationSync": {"concurrencyPolicy": "Sometimes"}},
        {"gateway": {"processes": 0}},
        {"gateway": {"replicaz": 2}},
        {"keda": {"identityOwner": "me"}},
    ],
    ids=lambda wrong: json.dumps(wrong),
)
def test_wrong_values_fail_at_render_not_at_run_time(wrong: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError, match="schema"):
        render(wrong)


def test_keda_needs_the_account_of_the_queues_and_a_role_to_read_them() -> None:
    with pytest.raises(helm.HelmError, match=r"aws\.accountId is required"):
        render({"aws": {"accountId": ""}})
    assert render({"aws": {"accountId": ""}, "keda": {"enabled": False}})
    with pytest.raises(helm.HelmError, match=r"aws\.roles\.worker-sentiment is not set"):
        render({"aws": {"roles": {"worker-sentiment": ""}}})
    operator = of_kind(
        render({"aws": {"roles": {"worker-sentiment": ""}}, "keda": {"identityOwner": "keda"}}), "TriggerAuthentication"
    )
    assert operator["inference-model-sentiment"]["spec"]["podIdentity"] == {"provider": "aws", "identityOwner": "keda"}


@pytest.mark.parametrize(
    "bounds",
    [
        {"models": {"sentiment": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}}},
        {"gateway": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}},
    ],
    ids=["model", "gateway"],
)
def test_a_minimum_above_the_maximum_is_refused(bounds: dict[str, Any]) -> None:
    with pytest.raises(helm.HelmError, match="is above maxReplicas"):
        render(bounds)


def test_a_disruption_budget_is_made_only_where_a_node_can_still_drain() -> None:
    assert of_kind(render(), "PodDisruptionBudget").keys() == {"inference-gateway", "inference-dispatcher"}
    one = render({"dispatcher": {"replicas": 1}, "gateway": {"autoscaling": {"enabled": False}, "replicas": 1}})
    assert not of_kind(one, "PodDisruptionBudget")  # minAvailable 1 of 1 would block every drain
    share = of_kind(
        render({"dispatcher": {"replicas": 1, "podDisruptionBudget": {"minAvailable": "50%"}}}), "PodDisruptionBudget"
    )
    assert share["inference-dispatcher"]["spec"]["minAvailable"] == "50%"


def test_settings_are_strings_so_that_no_number_is_rendered_in_exponent_form() -> None:
    with pytest.raises(helm.HelmError, match="schema"):
        render({"models": {"sentiment": {"env": {"WORKER_INLINE_RESULTS_BYTES": 1048576}}}})
    worker = pod_specs(render({"models": {"sentiment": {"env": {"WORKER_INLINE_RESULTS_BYTES": "1048576"}}}}))
    assert env_of(worker["inference-model-sentiment"]["containers"][0])["WORKER_INLINE_RESULTS_BYTES"] == "1048576"


def test_names_fit_kubernetes_limits_for_the_longest_release_name() -> None:
    release = "r" * 53  # Helm's longest release name
    for manifest in render(VARIANTS["everything-on"], release=release):
        limit = 52 if manifest["kind"] == "CronJob" else 63
        assert len(manifest["metadata"]["name"]) <= limit, manifest["metadata"]["name"]
