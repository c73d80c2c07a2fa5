"""Promotion through the real MLflow registry: a better challenger is promoted, a worse one refused,
each decision is recorded, and rollback restores the previous champion."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import torch

from model_runtime.base import TrainOptions
from model_runtime.catalog import ModelSpec, find
from model_runtime.lifecycle import promote, rollback, train_and_register
from model_runtime.registry import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, ModelRegistry
from support.models import add_keyword_model
from support.stack import Stack

pytestmark = pytest.mark.integration

WEAK, STRONG = 10, None  # training examples: the keyword model scores ~0.52 and ~0.68


@pytest.fixture
def spec(tmp_path: Path) -> ModelSpec:
    name = f"kw{uuid.uuid4().hex[:6]}"
    add_keyword_model(tmp_path, name=name, action=name)
    return find(tmp_path, name)


def options(limit: int | None) -> TrainOptions:
    return TrainOptions(device=torch.device("cpu"), limit=limit, progress=False)


def version_of(registry: ModelRegistry, spec: ModelSpec, alias: str) -> str | None:
    ref = registry.by_alias(spec.name, alias)
    return ref.version if ref else None


def test_a_worse_challenger_is_refused_and_the_refusal_recorded(stack: Stack, spec: ModelSpec) -> None:
    registry = ModelRegistry(stack.config.mlflow_uri)
    train_and_register(spec, registry, options(STRONG), CHAMPION)
    champion = version_of(registry, spec, CHAMPION)
    challenger = train_and_register(spec, registry, options(WEAK), CHALLENGER)

    decision = promote(spec, registry, options(None), margin=0.01, decided_by="test-suite")

    assert not decision.promoted
    assert decision.champion is not None
    assert decision.challenger.metrics["accuracy"] < decision.champion.metrics["accuracy"]
    assert version_of(registry, spec, CHAMPION) == champion  # unchanged
    tags = registry.version_tags(challenger)
    assert tags["promotion.decision"] == "refused" and tags["promotion.by"] == "test-suite"
    assert float(tags["promotion.champion_score"]) > float(tags["promotion.challenger_score"])
    (latest, *_) = registry.runs(f"{spec.name}-promotions")
    assert registry.run_tags(latest)["decision"] == "refused"
    assert set(registry.run_metrics(latest)) == {"champion_score", "challenger_score"}


def test_a_better_challenger_is_promoted_and_can_be_rolled_back(stack: Stack, spec: ModelSpec) -> None:
    registry = ModelRegistry(stack.config.mlflow_uri)
    weak = train_and_register(spec, registry, options(WEAK), CHAMPION)
    strong = train_and_register(spec, registry, options(STRONG), CHALLENGER)

    decision = promote(spec, registry, options(None), margin=0.05, decided_by="test-suite")

    assert decision.promoted, decision.reason
    assert version_of(registry, spec, CHAMPION) == strong.version
    assert version_of(registry, spec, PREVIOUS_CHAMPION) == weak.version
    assert registry.version_tags(strong)["promotion.decision"] == "promoted"
    (latest, *_) = registry.runs(f"{spec.name}-promotions")
    assert registry.run_tags(latest)["decision"] == "promoted"

    back = rollback(spec, registry, decided_by="test-suite")
    assert back.version == weak.version == version_of(registry, spec, CHAMPION)
    assert version_of(registry, spec, PREVIOUS_CHAMPION) is None
    assert registry.version_tags(strong)["rolled_back.by"] == "test-suite"
    with pytest.raises(LookupError):
        rollback(spec, registry, decided_by="test-suite")  # one step only


def test_the_margin_is_required_not_just_any_gain(stack: Stack, spec: ModelSpec) -> None:
    registry = ModelRegistry(stack.config.mlflow_uri)
    train_and_register(spec, registry, options(WEAK), CHAMPION)
    champion = version_of(registry, spec, CHAMPION)
    train_and_register(spec, registry, options(STRONG), CHALLENGER)
    decision = promote(spec, registry, options(None), margin=0.5, decided_by="test-suite")
    assert not decision.promoted and version_of(registry, spec, CHAMPION) == champion
