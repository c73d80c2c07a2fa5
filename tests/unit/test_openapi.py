"""The OpenAPI document and the routes the app serves are the same set; live answers are checked in e2e."""

import re

import pytest
from openapi_spec_validator import validate

from gateway.api import load_openapi, with_catalogue
from gateway.app import create_app
from gateway.errors import BadIdempotencyKey, InvalidRequest
from gateway.monitoring_api import MAX_OFFSET
from gateway.settings import Settings
from gateway.unit_of_work import ActionRow
from gateway.validation import CALLBACK_URL_PATTERN, MAX_DEADLINE_SECONDS, parse_submission


def test_the_document_is_valid_openapi() -> None:
    validate(load_openapi())  # type: ignore[arg-type]


def test_every_route_is_documented_and_every_documented_route_exists() -> None:
    app = create_app(Settings.from_env({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}))
    served = {
        (rule.rule.replace("<request_id>", "{request_id}").replace("<run_id>", "{run_id}"), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    documented = {(path, method) for path, item in load_openapi()["paths"].items() for method in item}
    assert served == documented


def test_every_v1_operation_documents_the_503_of_an_outage() -> None:
    paths = load_openapi()["paths"]
    undocumented = [
        (path, method)
        for path, item in paths.items()
        if path.startswith("/v1/")
        for method, operation in item.items()
        if operation["responses"].get("503") != {"$ref": "#/components/responses/Unavailable"}
    ]
    assert undocumented == []


def test_every_v1_operation_needs_a_key_and_documents_the_401_and_429_and_the_probes_are_open() -> None:
    document = load_openapi()
    assert document["security"] == [{"apiKey": []}]
    assert document["components"]["securitySchemes"]["apiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": document["components"]["securitySchemes"]["apiKey"]["description"],
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path.startswith("/v1/"):
                assert "security" not in operation, (path, method)  # the document's: a key
                assert operation["responses"]["401"] == {"$ref": "#/components/responses/Unauthorized"}, (path, method)
                # Submitting also counts tokens against the tenant's quota: its 429 says both.
                limited = "RateLimitedOrOverQuota" if (path, method) == ("/v1/inference", "post") else "RateLimited"
                assert operation["responses"]["429"] == {"$ref": f"#/components/responses/{limited}"}, (path, method)
            else:
                assert operation["security"] == [], (path, method)


def test_the_documented_deadline_bound_is_the_one_enforced() -> None:
    field = load_openapi()["components"]["schemas"]["InferenceSubmission"]["properties"]["deadline_seconds"]
    assert (field["minimum"], field["maximum"]) == (1, MAX_DEADLINE_SECONDS)


@pytest.mark.parametrize("key", ["k-1", "a b", "~", "é", "tab\there", "x" * 255, "x" * 256, ""])
def test_the_documented_idempotency_key_pattern_is_the_rule_enforced(key: str) -> None:
    [parameter] = [p for p in load_openapi()["paths"]["/v1/inference"]["post"]["parameters"] if p["in"] == "header"]
    schema = parameter["schema"]
    documented = schema["minLength"] <= len(key) <= schema["maxLength"] and re.fullmatch(schema["pattern"], key)
    try:
        parse_submission({"action": "a", "text": "t"}, key)
        enforced = True
    except BadIdempotencyKey:
        enforced = False
    assert bool(documented) is enforced


def test_a_method_a_route_does_not_take_is_405_with_allow() -> None:
    client = create_app(Settings.from_env({"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})).test_client()
    refused = client.delete("/v1/inference")
    assert refused.status_code == 405 and refused.get_json()["error"]["code"] == "method_not_allowed"
    assert "POST" in refused.headers["Allow"].split(", ")


SUBMISSION = load_openapi()["components"]["schemas"]["InferenceSubmission"]["properties"]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/in?x=1",
        "http://10.0.0.1:8080/",
        "http://h:65535",
        "http://h:65536",
        "http://h:0/",
        "https://",
        "https://user:pw@h.example/",
        "ftp://h/",
        "https://h.example/a b",
        "https://[::1]/",
        "https://h.example/é",
    ],
)
def test_the_documented_callback_url_pattern_is_the_rule_enforced(url: str) -> None:
    documented = re.search(SUBMISSION["callback_url"]["pattern"], url) is not None
    assert SUBMISSION["callback_url"]["pattern"] == CALLBACK_URL_PATTERN
    assert documented is _accepted({"action": "a", "text": "t", "callback_url": url})


@pytest.mark.parametrize("text", ["fine", " padded ", "   ", "\t\n", "nul\x00inside", "\u2003x", "x"])
def test_the_documented_text_pattern_is_the_rule_enforced(text: str) -> None:
    documented = re.search(SUBMISSION["text"]["pattern"], text) is not None
    assert documented is _accepted({"action": "a", "text": text})


def _accepted(body: dict[str, object]) -> bool:
    try:
        parse_submission(body, None)
    except InvalidRequest:
        return False
    return True


def test_the_documented_page_offset_bound_is_the_one_enforced() -> None:
    [offset] = [p for p in load_openapi()["paths"]["/v1/monitoring/runs"]["get"]["parameters"] if p["name"] == "offset"]
    assert offset["schema"]["maximum"] == MAX_OFFSET


def test_the_served_document_names_the_catalogues_actions_and_labels() -> None:
    actions = [
        ActionRow("embed", "embedding", None, None),
        ActionRow("sentiment", "sentiment", "3", None, ("negative", "positive")),
    ]
    document = with_catalogue(load_openapi(), actions)
    validate(document)  # type: ignore[arg-type]
    schemas = document["components"]["schemas"]
    assert schemas["InferenceSubmission"]["properties"]["action"]["enum"] == ["embed", "sentiment"]
    assert schemas["FeedbackBody"]["properties"]["label"]["enum"] == ["negative", "positive"]
    empty = with_catalogue(load_openapi(), [])["components"]["schemas"]
    assert "enum" not in empty["InferenceSubmission"]["properties"]["action"]
