import pytest

from gateway.settings import Settings
from inference_core.settings import SettingsError


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
