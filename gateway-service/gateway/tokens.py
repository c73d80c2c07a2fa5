"""A request's tokens, estimated at submit with its action's tokenizer, for the tenant's token quota.

The estimate is reserved against the quota (``handlers.submit``) and replaced by what the model
actually read when the request finishes (the worker's ``usage``). Invariants: an estimate is never
below what the model will report, since nothing is truncated here and the model only cuts, so a
reservation that fits is never topped up past the budget by its adjustment; and the gateway needs no
model: it reads the tokenizer.json that the action's ``model.toml`` names, as ``gateway-admin setup``
stored it in ``model_actions``, with Hugging Face ``tokenizers`` (Rust, tens of microseconds a text). An
action without a tokenizer is estimated as its UTF-8 bytes plus two: an upper bound for any
tokenizer whose tokens each cover a byte or more, with a start and an end token (its model's
answer gives the excess back).

A process keeps the catalogue's tokenizers for ``TOKENIZER_CACHE_SECONDS`` and loads them all at
once, so a name that is no action (the submit refuses it) costs one lookup in memory and is never
cached: a client cannot fill the cache with made-up names. An action registered since the last load
is estimated by its bytes (an upper bound) until the next one.
"""

from __future__ import annotations

import logging
import threading
import time

from tokenizers import Tokenizer

from gateway.unit_of_work import UnitOfWork

log = logging.getLogger(__name__)

TOKENIZER_CACHE_SECONDS = 300


class TokenEstimator:
    def __init__(self, uow: UnitOfWork, cache_seconds: float = TOKENIZER_CACHE_SECONDS) -> None:
        self._uow = uow
        self._cache_seconds = cache_seconds
        self._tokenizers: dict[str, Tokenizer] = {}
        self._expires = 0.0  # monotonic
        self._lock = threading.Lock()

    def estimate(self, action: str, text: str) -> int:
        tokenizer = self._catalogue().get(action)
        if tokenizer is None:
            return len(text.encode()) + 2
        return len(tokenizer.encode(text).ids)

    def _catalogue(self) -> dict[str, Tokenizer]:
        with self._lock:  # one thread reloads; the others wait for it rather than load it again
            if time.monotonic() >= self._expires:
                with self._uow.transaction() as tx:
                    declared = tx.tokenizers()
                self._tokenizers = {action: t for action, json in declared.items() if (t := _load(action, json))}
                self._expires = time.monotonic() + self._cache_seconds
            return self._tokenizers


def _load(action: str, tokenizer_json: str) -> Tokenizer | None:
    """The action's tokenizer; None (its requests estimated by their bytes) if it cannot be read."""
    try:
        tokenizer = Tokenizer.from_str(tokenizer_json)
    except Exception as exc:  # one broken tokenizer.json must not stop every action's submissions
        log.error("the tokenizer of action %r cannot be read (%s); estimating its requests by their bytes", action, exc)
        return None
    tokenizer.no_truncation()  # an upper bound: the model's own truncation only lowers the figure
    tokenizer.no_padding()
    return tokenizer
