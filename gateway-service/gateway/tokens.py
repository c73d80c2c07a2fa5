"""A request's tokens, estimated at submit with its action's tokenizer, for the tenant's token quota.

The estimate is reserved against the quota (``handlers.submit``) and replaced by what the model
actually read when the request finishes (the worker's ``usage``). Invariants: an estimate is never
below what the model will report, since nothing is truncated here and the model only cuts, so a
reservation that fits is never topped up past the budget by its adjustment; and the gateway needs no
model: it reads the tokenizer.json that the action's ``model.toml`` names, as bootstrap stored it
in ``model_actions``, with Hugging Face ``tokenizers`` (Rust, tens of microseconds a text). An
action without a tokenizer is estimated as its UTF-8 bytes plus two: an upper bound for any
tokenizer whose tokens each cover a byte or more, with a start and an end token (its model's
answer gives the excess back).

A process keeps an action's tokenizer for ``TOKENIZER_CACHE_SECONDS``.
"""

from __future__ import annotations

import threading

from cachetools import TTLCache
from tokenizers import Tokenizer

from gateway.unit_of_work import UnitOfWork

TOKENIZER_CACHE_SECONDS = 300
_CACHED_ACTIONS = 256


class TokenEstimator:
    def __init__(self, uow: UnitOfWork, cache_seconds: float = TOKENIZER_CACHE_SECONDS) -> None:
        self._uow = uow
        self._cache: TTLCache[str, Tokenizer | None] = TTLCache(_CACHED_ACTIONS, cache_seconds)
        self._lock = threading.Lock()

    def estimate(self, action: str, text: str) -> int:
        tokenizer = self._tokenizer(action)
        if tokenizer is None:
            return len(text.encode()) + 2
        return len(tokenizer.encode(text).ids)

    def _tokenizer(self, action: str) -> Tokenizer | None:
        with self._lock:
            if action in self._cache:
                return self._cache[action]
        with self._uow.transaction() as tx:
            declared = tx.tokenizer(action)
        tokenizer = _load(declared) if declared is not None else None
        with self._lock:
            self._cache[action] = tokenizer
        return tokenizer


def _load(tokenizer_json: str) -> Tokenizer:
    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.no_truncation()  # an upper bound: the model's own truncation only lowers the figure
    tokenizer.no_padding()
    return tokenizer
