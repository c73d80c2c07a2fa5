"""Train a model, record the run in MLflow, register the version, and point an alias at it."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from inference_core.db.labels import LabelledText
from inference_core.reference import ARTIFACT_PATH as REFERENCE_ARTIFACT_PATH
from inference_core.reference import ReferenceSample
from model_runtime import human_labels
from model_runtime.base import AbstractModel, TrainOptions
from model_runtime.catalog import ModelSpec, load_class
from model_runtime.human_labels import HumanSplit
from model_runtime.registry import CHALLENGER, CHAMPION, PREVIOUS_CHAMPION, ModelRegistry, ModelVersionRef

log = logging.getLogger(__name__)


def train_and_register(
    spec: ModelSpec,
    registry: ModelRegistry,
    options: TrainOptions,
    alias: str | None = None,
    cache_dir: Path | None = None,
    human: HumanSplit | None = None,
) -> ModelVersionRef:
    """Train, log the run, register a version; keep a copy of its artifacts in `cache_dir` if given.

    With `human`, its training part is added to the model's own training data, and the run records
    how many people's labels it used, how many are held out, and the fingerprint of the set.
    """
    model_class = load_class(spec)
    human_params: dict[str, Any] = {}
    if human is not None:
        options = replace(options, human_examples=[(item.text, item.label) for item in human.train])
        human_params = human.params()
        log.info("%s: training with %d human labels (%d held out)", spec.name, len(human.train), len(human.held_out))
    with tempfile.TemporaryDirectory(prefix=f"train-{spec.name}-") as workdir:
        artifacts = Path(workdir) / "model"
        output = model_class.train(artifacts, options)
        log.info("%s trained: %s", spec.name, output.metrics)
        if output.reference_texts:
            write_reference(model_class.load(artifacts, options.device), output.reference_texts, artifacts)
        run_id = registry.log_run(
            experiment=spec.name,
            params={**output.params, **human_params, "device": str(options.device), "limit": options.limit or "all"},
            metrics=output.metrics,
            artifacts_dir=artifacts,
            tags={"model": spec.name, "action": spec.action},
        )
        if cache_dir is not None:
            shutil.copytree(artifacts, cache_dir / spec.name / run_id, dirs_exist_ok=True)
    version = registry.register(spec.name, run_id)
    if alias:
        registry.set_alias(spec.name, alias, version.version)
        log.info("%s version %s is now @%s", spec.name, version.version, alias)
    return version


REFERENCE_BATCH_SIZE = 128


def write_reference(model: AbstractModel, texts: Sequence[str], artifacts_dir: Path) -> Path:
    """The version's own answers on `texts`, stored with its artifacts (so restored with them too)."""
    return answers(model, texts).write(artifacts_dir / REFERENCE_ARTIFACT_PATH)


def answers(model: AbstractModel, texts: Sequence[str]) -> ReferenceSample:
    """The model's results and features on `texts`, predicted in batches."""
    results: list[dict[str, Any]] = []
    features = []
    for start in range(0, len(texts), REFERENCE_BATCH_SIZE):
        output = model.predict(texts[start : start + REFERENCE_BATCH_SIZE])
        results += output.results
        features.append(output.features)
    return ReferenceSample.from_results(texts, results, np.concatenate(features))


def ensure_champion(
    spec: ModelSpec, registry: ModelRegistry, options: TrainOptions, cache_dir: Path | None = None
) -> ModelVersionRef:
    """Make sure `spec` has a champion whose artifacts can be downloaded.

    LocalStack keeps no state across restarts, so the registry (in PostgreSQL) can name a
    champion whose artifacts (in S3) are gone: they are restored from `cache_dir` when it
    holds a copy, and otherwise a new version is trained.
    """
    ref = registry.by_alias(spec.name, CHAMPION)
    if ref is not None and _downloadable(registry, ref):
        log.info("%s@%s is version %s; not training", spec.name, CHAMPION, ref.version)
        return ref
    cached = cache_dir / spec.name / ref.run_id if cache_dir and ref and ref.run_id else None
    if ref is not None and cached is not None and cached.is_dir():
        log.info("%s@%s (v%s): restoring its artifacts from %s", spec.name, CHAMPION, ref.version, cached)
        registry.restore_artifacts(str(ref.run_id), cached)
        if _downloadable(registry, ref):
            return ref
    log.info("%s has no servable @%s; training one (a few minutes on two cores)", spec.name, CHAMPION)
    return train_and_register(spec, registry, options, CHAMPION, cache_dir)


def _downloadable(registry: ModelRegistry, ref: ModelVersionRef) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            registry.download(ref, Path(tmp))
        except Exception as exc:
            log.warning("%s v%s cannot be downloaded: %s", ref.name, ref.version, exc)
            return False
    return True


@dataclass(frozen=True)
class Evaluation:
    ref: ModelVersionRef
    metrics: dict[str, float]


@dataclass(frozen=True)
class Decision:
    promoted: bool
    metric: str
    margin: float
    challenger: Evaluation
    champion: Evaluation | None
    reason: str


HUMAN_ACCURACY = "human_accuracy"  # on the held-out part of people's labels
HUMAN_HELD_OUT = "human_held_out"  # how many labels that score is over


def evaluate(
    spec: ModelSpec,
    registry: ModelRegistry,
    ref: ModelVersionRef,
    options: TrainOptions,
    human_held_out: Sequence[LabelledText] = (),
) -> Evaluation:
    """Score one version on the model's held-out data, and on people's held-out labels when given;
    the scores go to MLflow (a run and version tags)."""
    with tempfile.TemporaryDirectory(prefix=f"eval-{spec.name}-") as tmp:
        model = load_class(spec).load(registry.download(ref, Path(tmp)), options.device)
        metrics = model.eval(options)
        if human_held_out:
            predicted = answers(model, [item.text for item in human_held_out]).labels
            metrics[HUMAN_ACCURACY] = human_labels.accuracy(predicted, human_held_out)
            metrics[HUMAN_HELD_OUT] = float(len(human_held_out))
    if spec.metric not in metrics:
        raise ValueError(f"{spec.name}.eval() returned {sorted(metrics)}, not its declared metric {spec.metric!r}")
    registry.log_run(
        f"{spec.name}-evaluations",
        params={"version": ref.version, "limit": options.limit or "all", "seed": options.seed},
        metrics=metrics,
        tags={"model": spec.name, "version": ref.version},
    )
    registry.tag_version(ref, {f"eval.{key}": f"{value:.6f}" for key, value in metrics.items()})
    return Evaluation(ref, metrics)


def promote(
    spec: ModelSpec,
    registry: ModelRegistry,
    options: TrainOptions,
    margin: float,
    decided_by: str,
    human_held_out: Sequence[LabelledText] = (),
) -> Decision:
    """Move champion to the challenger only if it beats the champion by `margin` on the declared metric
    and, when people's held-out labels are given, scores no worse than the champion on them.

    Both versions are scored now, on the same held-out data. Either way, the decision (every
    score, the margin, who decided, when) is recorded in MLflow.
    """
    challenger_ref = registry.by_alias(spec.name, CHALLENGER)
    if challenger_ref is None:
        raise LookupError(f"{spec.name} has no @{CHALLENGER}; train one first (jobs/train.sh {spec.name})")
    champion_ref = registry.by_alias(spec.name, CHAMPION)
    challenger = evaluate(spec, registry, challenger_ref, options, human_held_out)
    champion = None
    if champion_ref is None:
        promoted, reason = True, "no champion yet"
    elif champion_ref.version == challenger_ref.version:
        promoted, reason = False, "the challenger already is the champion"
    else:
        champion = evaluate(spec, registry, champion_ref, options, human_held_out)
        promoted, reason = decide(spec, margin, challenger.metrics, champion.metrics)

    if promoted:
        if champion_ref is not None:
            registry.set_alias(spec.name, PREVIOUS_CHAMPION, champion_ref.version)
        registry.set_alias(spec.name, CHAMPION, challenger_ref.version)
    decision = Decision(promoted, spec.metric, margin, challenger, champion, reason)
    _record(spec, registry, decision, decided_by)
    log.info(
        "%s: challenger v%s %s (%s)",
        spec.name,
        challenger_ref.version,
        "promoted to champion" if promoted else "not promoted",
        reason,
    )
    return decision


def decide(
    spec: ModelSpec, margin: float, challenger: dict[str, float], champion: dict[str, float]
) -> tuple[bool, str]:
    """Promote when the declared metric gains `margin` and people's held-out accuracy (when both
    versions were scored on it) does not fall; the reason names both."""
    gain = challenger[spec.metric] - champion[spec.metric]
    if not spec.greater_is_better:
        gain = -gain
    promoted = gain >= margin
    reason = f"{spec.metric} {'improves' if gain > 0 else 'changes'} by {gain:+.4f}; required margin {margin:+.4f}"
    if HUMAN_ACCURACY in challenger and HUMAN_ACCURACY in champion:
        was, now = champion[HUMAN_ACCURACY], challenger[HUMAN_ACCURACY]
        falls = now < was
        promoted = promoted and not falls
        reason += f"; human held-out accuracy {was:.4f} -> {now:.4f} on {int(challenger[HUMAN_HELD_OUT])} labels" + (
            " (falls)" if falls else ""
        )
    else:
        reason += "; not enough human held-out labels to compare"
    return promoted, reason


def rollback(spec: ModelSpec, registry: ModelRegistry, decided_by: str) -> ModelVersionRef:
    """Point champion back at the version it replaced at the last promotion."""
    previous = registry.by_alias(spec.name, PREVIOUS_CHAMPION)
    current = registry.by_alias(spec.name, CHAMPION)
    if previous is None or current is None:
        raise LookupError(f"{spec.name} has no previous champion to roll back to")
    registry.set_alias(spec.name, CHAMPION, previous.version)
    registry.delete_alias(spec.name, PREVIOUS_CHAMPION)
    at = datetime.now(UTC).isoformat()
    registry.tag_version(current, {"rolled_back.at": at, "rolled_back.by": decided_by})
    registry.log_run(
        f"{spec.name}-promotions",
        params={"from_version": current.version, "to_version": previous.version, "decided_by": decided_by},
        metrics={},
        tags={"decision": "rollback", "model": spec.name, "at": at},
    )
    log.info("%s: champion rolled back from v%s to v%s", spec.name, current.version, previous.version)
    return previous


def _record(spec: ModelSpec, registry: ModelRegistry, decision: Decision, decided_by: str) -> None:
    at = datetime.now(UTC).isoformat()
    outcome = "promoted" if decision.promoted else "refused"
    metrics = {"challenger_score": decision.challenger.metrics[spec.metric]}
    if decision.champion is not None:
        metrics["champion_score"] = decision.champion.metrics[spec.metric]
    for side, evaluation in (("challenger", decision.challenger), ("champion", decision.champion)):
        if evaluation is not None and HUMAN_ACCURACY in evaluation.metrics:
            metrics[f"{side}_{HUMAN_ACCURACY}"] = evaluation.metrics[HUMAN_ACCURACY]
            metrics[HUMAN_HELD_OUT] = evaluation.metrics[HUMAN_HELD_OUT]
    registry.log_run(
        f"{spec.name}-promotions",
        params={
            "metric": decision.metric,
            "margin": decision.margin,
            "challenger_version": decision.challenger.ref.version,
            "champion_version": decision.champion.ref.version if decision.champion else "none",
            "decided_by": decided_by,
        },
        metrics=metrics,
        tags={"decision": outcome, "reason": decision.reason, "model": spec.name, "at": at},
    )
    registry.tag_version(
        decision.challenger.ref,
        {
            "promotion.decision": outcome,
            "promotion.reason": decision.reason,
            "promotion.by": decided_by,
            "promotion.at": at,
            **{f"promotion.{key}": f"{value:.6f}" for key, value in metrics.items()},
        },
    )
