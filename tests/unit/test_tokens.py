"""The token estimate at submit: the action's tokenizer when it has one, its bytes otherwise."""

from __future__ import annotations

from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace

from gateway.tokens import TokenEstimator
from support.fakes import FakeUnitOfWork


def _word_tokenizer() -> str:
    tokenizer = Tokenizer(WordLevel({"[UNK]": 0, "good": 1, "film": 2}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    return tokenizer.to_str()


def test_an_action_with_a_tokenizer_is_estimated_by_it_and_one_without_by_its_bytes() -> None:
    uow = FakeUnitOfWork()
    uow.tables.tokenizers["embed"] = _word_tokenizer()
    estimator = TokenEstimator(uow)
    assert estimator.estimate("embed", "good film , really") == 4
    assert estimator.estimate("sentiment", "thrée") == 8  # 6 UTF-8 bytes + 2


def test_the_catalogue_is_loaded_once_per_period_and_unknown_names_are_never_looked_up() -> None:
    uow = FakeUnitOfWork()
    uow.tables.tokenizers["embed"] = _word_tokenizer()
    estimator = TokenEstimator(uow, cache_seconds=3600)
    for n in range(1000):
        estimator.estimate(f"made-up-{n}", "good film")
    assert estimator.estimate("embed", "good film") == 2
    assert uow.commits == 1


def test_a_tokenizer_declared_later_is_used_after_the_cache_period() -> None:
    uow = FakeUnitOfWork()
    estimator = TokenEstimator(uow, cache_seconds=0)
    assert estimator.estimate("embed", "good film") == 11
    uow.tables.tokenizers["embed"] = _word_tokenizer()
    assert estimator.estimate("embed", "good film") == 2


def test_a_tokenizer_that_cannot_be_read_leaves_its_action_to_the_byte_estimate_and_the_others_alone() -> None:
    uow = FakeUnitOfWork()
    uow.tables.tokenizers.update({"embed": _word_tokenizer(), "sentiment": "{not a tokenizer"})
    estimator = TokenEstimator(uow)
    assert estimator.estimate("sentiment", "good film") == 11
    assert estimator.estimate("embed", "good film") == 2
