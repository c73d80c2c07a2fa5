import json

import pytest

from gateway.errors import ApiError, BadIdempotencyKey, InvalidRequest, MalformedJson
from gateway.validation import parse_json, parse_submission


def submission(body: object, key: str | None = None):  # type: ignore[no-untyped-def]
    return parse_submission(parse_json(json.dumps(body).encode()), key)


def test_valid_body_becomes_a_command() -> None:
    command = submission({"action": "sentiment", "text": "good", "metadata": {"user": 7}}, "key-1")
    assert (command.action, command.text, command.metadata, command.idempotency_key) == (
        "sentiment",
        "good",
        {"user": 7},
        "key-1",
    )


def test_a_deadline_is_part_of_the_command_and_of_its_fingerprint() -> None:
    command = submission({"action": "s", "text": "t", "deadline_seconds": 30})
    assert command.deadline_seconds == 30
    assert command.fingerprint != submission({"action": "s", "text": "t"}).fingerprint
    assert submission({"action": "s", "text": "t", "deadline_seconds": None}).deadline_seconds is None
    as_float = submission({"action": "s", "text": "t", "deadline_seconds": 30.0})  # the same integer in JSON
    assert as_float.deadline_seconds == 30 and as_float.fingerprint == command.fingerprint


def test_a_priority_is_part_of_the_command_and_of_its_fingerprint_only_when_given() -> None:
    assert submission({"action": "s", "text": "t", "priority": "high"}).priority == "high"
    plain = submission({"action": "s", "text": "t"})
    assert plain.priority is None
    assert submission({"action": "s", "text": "t", "priority": "normal"}).fingerprint != plain.fingerprint
    with pytest.raises(InvalidRequest, match="'priority' must be one of: high, normal"):
        submission({"action": "s", "text": "t", "priority": "urgent"})


@pytest.mark.parametrize(
    "url",
    ["ftp://h/x", "https://", "not a url", "https://user:pw@h.example/x", "https://h.example:99999/", 7, "h" * 3000],
)
def test_a_callback_url_must_be_an_http_url_with_a_host_and_no_credentials(url: object) -> None:
    with pytest.raises(InvalidRequest, match="callback_url"):
        submission({"action": "s", "text": "t", "callback_url": url})
    good = submission({"action": "s", "text": "t", "callback_url": "https://hooks.example.com/in?x=1"})
    assert good.callback_url == "https://hooks.example.com/in?x=1"
    assert good.fingerprint != submission({"action": "s", "text": "t"}).fingerprint


def test_fingerprint_depends_on_the_body_not_the_key_order() -> None:
    a = submission({"action": "s", "text": "t", "metadata": {"a": 1, "b": 2}})
    b = submission({"metadata": {"b": 2, "a": 1}, "text": "t", "action": "s"})
    c = submission({"action": "s", "text": "other"})
    assert a.fingerprint == b.fingerprint != c.fingerprint


@pytest.mark.parametrize(
    "raw",
    [b"{", b"", b"\xff\xfe", b'{"a": NaN}', b'{"a": Infinity}', b"[" * 100_000, b"1" * 5000],
)
def test_malformed_json_is_a_400(raw: bytes) -> None:
    with pytest.raises(MalformedJson):
        parse_json(raw)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "JSON object"),
        ("text", "JSON object"),
        ({"text": "x"}, "'action' is required"),
        ({"action": "sentiment"}, "'text' is required"),
        ({"action": "sentiment", "text": ""}, "must not be empty"),
        ({"action": "sentiment", "text": "   \n"}, "must not be empty"),
        ({"action": "sentiment", "text": 5}, "must be a string, got number"),
        ({"action": "sentiment", "text": None}, "got null"),
        ({"action": ["sentiment"], "text": "x"}, "got array"),
        ({"action": "sentiment", "text": "x", "extra": 1}, "unknown field(s): extra"),
        ({"action": "sentiment", "text": "x", "metadata": [1]}, "'metadata' must be a JSON object"),
        ({"action": "sentiment", "text": "a\u0000b"}, "NUL"),
        ({"action": "sentiment", "text": "x", "metadata": {"k": "\u0000"}}, "NUL"),
        ({"action": "sentiment", "text": "x", "deadline_seconds": 0}, "'deadline_seconds' must be a whole number"),
        ({"action": "sentiment", "text": "x", "deadline_seconds": 3601}, "from 1 to 3600"),
        ({"action": "sentiment", "text": "x", "deadline_seconds": 1.5}, "'deadline_seconds'"),
        ({"action": "sentiment", "text": "x", "deadline_seconds": True}, "'deadline_seconds'"),
        ({"action": "sentiment", "text": "x", "deadline_seconds": "30"}, "'deadline_seconds'"),
    ],
)
def test_invalid_bodies_are_422_with_a_message(body: object, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        submission(body)
    assert fragment in raised.value.message


def test_numbers_that_overflow_to_infinity_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="out of range"):
        parse_submission(parse_json(b'{"action": "s", "text": "t", "metadata": {"k": 1e999}}'), None)


def test_lone_surrogates_are_refused() -> None:
    with pytest.raises(InvalidRequest, match="surrogate"):
        parse_submission(parse_json(b'{"action": "s", "text": "\\ud800"}'), None)


def test_deep_metadata_is_refused() -> None:
    deep: dict[str, object] = {}
    node = deep
    for _ in range(40):
        node["k"] = {}
        node = node["k"]  # type: ignore[assignment]
    with pytest.raises(InvalidRequest, match="nested deeper"):
        submission({"action": "s", "text": "t", "metadata": deep})


@pytest.mark.parametrize("key", ["", "k" * 256, "ключ", "a\nb"])
def test_bad_idempotency_keys_are_refused(key: str) -> None:
    with pytest.raises(BadIdempotencyKey):
        submission({"action": "s", "text": "t"}, key)


def test_every_error_serialises_to_the_documented_shape() -> None:
    error = InvalidRequest("bad", {"field": "text"})
    assert error.to_json() == {"error": {"code": "invalid_request", "message": "bad", "details": {"field": "text"}}}
    assert isinstance(error, ApiError) and error.status == 422
