from pathlib import Path

import pytest

from gateway.settings import Settings
from inference_core.settings import SettingsError, use_local_stack, write_env_file


def test_defaults_point_at_the_local_stack() -> None:
    settings = Settings.from_env({})
    assert settings.database_url.endswith("/inference")
    assert settings.aws.endpoint_url is None
    assert settings.aws.names.topic == "inference-events"


def test_prefix_applies_to_every_resource_name() -> None:
    names = Settings.from_env({"RESOURCE_PREFIX": "dev-"}).aws.names
    assert (names.topic, names.bucket, names.gateway_queue, names.model_queue("m")) == (
        "dev-inference-events",
        "dev-inference-platform",
        "dev-gateway-responses",
        "dev-model-m",
    )


@pytest.mark.parametrize(
    ("environ", "variable"),
    [({"GATEWAY_MAX_WAIT_SECONDS": "soon"}, "GATEWAY_MAX_WAIT_SECONDS"), ({"GATEWAY_MAX_WAIT_SECONDS": "31"}, "31")],
)
def test_bad_values_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(environ)


def test_a_running_stacks_settings_fill_only_what_the_environment_leaves_unset(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    write_env_file(repo / ".run" / "stack.env", {"A": "from-file", "B": "from-file"}, "test")
    below = repo / "ml-models" / "app"
    below.mkdir(parents=True)

    environ = {"A": "mine", "B": " "}
    assert use_local_stack(environ, cwd=below) == repo / ".run" / "stack.env"  # found from a subdirectory
    assert environ == {"A": "mine", "B": "from-file"}
    off = {"STACK_ENV_FILE": ""}  # "" turns it off
    assert use_local_stack(off, cwd=below) is None and off == {"STACK_ENV_FILE": ""}
    nothing: dict[str, str] = {}
    assert use_local_stack(nothing, cwd=tmp_path) is None and nothing == {}  # no stack running here
    named = {"STACK_ENV_FILE": str(repo / ".run" / "stack.env")}
    use_local_stack(named, cwd=tmp_path)
    assert named["B"] == "from-file"
