"""How often the monitoring job's drift verdict is wrong, per window size: its operating curve.

    python benchmarks/drift_calibration.py [--model sentiment] [--windows 200] [--seed 0]   # needs `make up`

Traffic. The champion's reference sample (its own answers on held-out validation texts, logged
at training) is split at random: 60% is the reference the job calibrates and judges against,
40% is ordinary traffic it never saw (windows larger than that pool are drawn with replacement).
The split is redrawn `--splits` times, each reference calibrated anew: a single split's ordinary
pool differs from its reference by a fixed chance amount that every window of it shares, while
the calibration promises its false-alarm rate over the chance of the reference; the worst split
is printed too.
Shifted traffic is benchmarks/shifted_texts.py (technical prose, product listings, log lines)
run through the same version; "25%" windows mix one shifted row into three ordinary ones.

Verdicts. "after": the job's verdict (monitoring_job.drift) with its default settings, thresholds
calibrated for the window's size. "before": the same scores against Evidently's default
thresholds for these methods (normed Wasserstein >= 0.1, Jensen-Shannon >= 0.1, Euclidean
distance of mean embeddings > 0.2), as a report built with Evidently's defaults would judge.

Prints, per window size: the false-alarm rate (ordinary windows judged drift), the detection
rate of fully shifted and of 25%-shifted windows, and how often each metric fired.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from model_runtime import lifecycle
from model_runtime.catalog import find, load_class
from model_runtime.registry import ModelRegistry
from monitoring_job.drift import Calibration, calibrate, scores, verdict
from monitoring_job.registry import ReferenceRegistry
from monitoring_job.sample import Sample
from monitoring_job.settings import DriftSettings
from shifted_texts import shifted_texts

ROOT = Path(__file__).resolve().parent.parent
SIZES = (50, 100, 300, 1000, 10_000)
SHIFTED_POOL = 1500
EVIDENTLY_DEFAULTS = {"wasserstein": 0.1, "jensenshannon": 0.1, "euclidean_mean_distance": 0.2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sentiment")
    parser.add_argument("--windows", type=int, default=200, help="windows per size and kind, over all splits")
    parser.add_argument("--splits", type=int, default=20, help="random reference/ordinary splits, each calibrated")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "true")
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")
    settings = DriftSettings()

    references = ReferenceRegistry(tracking_uri)
    version = references.champion(args.model)
    if version is None:
        raise SystemExit(f"{args.model} has no champion at {tracking_uri}: run `make up` first")
    logged = Sample.from_reference(references.reference(args.model, version))
    shifted = answers(args.model, tracking_uri, shifted_texts(SHIFTED_POOL, args.seed))
    per_split = args.windows // args.splits
    print(
        f"{args.model} v{version}: reference sample {len(logged)} rows, split {args.splits} times at random "
        f"(60% reference, 40% ordinary traffic); shifted pool {len(shifted)}; {per_split * args.splits} windows "
        f"per size and kind ({per_split} per split); seed {args.seed}",
        flush=True,
    )
    rng = np.random.default_rng(args.seed)
    kinds = ("ordinary", "shifted", "mixed")
    counts = {(size, kind, verdicts): 0 for size in SIZES for kind in kinds for verdicts in ("after", "before")}
    fired = {(size, kind): Counter[str]() for size in SIZES for kind in kinds}
    worst_split = dict.fromkeys(SIZES, 0.0)
    calibration_seconds, judge_seconds = [], []
    for _ in range(args.splits):
        order = rng.permutation(len(logged))
        cut = int(len(order) * 0.6)
        reference, ordinary = logged.take(order[:cut]), logged.take(order[cut:])
        started = time.monotonic()
        after = calibrate(reference, settings.sizes, settings.draws, settings.alpha, int(rng.integers(1 << 31)))
        calibration_seconds.append(time.monotonic() - started)
        before = Calibration(
            alpha=0,
            draws=0,
            seed=0,
            reference_rows=len(reference),
            sizes=[1],
            thresholds={m: [EVIDENTLY_DEFAULTS[method]] for m, method in after.methods.items()},
            methods=after.methods,
        )
        for size in SIZES:
            for kind in kinds:
                alarms = 0
                for _ in range(per_split):
                    window = draw(rng, kind, size, ordinary, shifted)
                    t = time.monotonic()
                    window_scores = scores(window, reference)
                    judged = verdict(window_scores, size, after)
                    judge_seconds.append(time.monotonic() - t)
                    alarms += judged.status == "drift"
                    counts[(size, kind, "before")] += verdict(window_scores, size, before).status == "drift"
                    fired[(size, kind)].update(judged.drifted)
                counts[(size, kind, "after")] += alarms
                if kind == "ordinary":
                    worst_split[size] = max(worst_split[size], alarms / per_split)

    print(
        f"calibration: {np.median(calibration_seconds):.1f}s per reference ({settings.draws} draws per size); "
        f"scoring one window: median {np.median(judge_seconds) * 1000:.0f} ms, max {max(judge_seconds) * 1000:.0f} ms"
    )
    total = per_split * args.splits
    print(
        f"{'rows':>6} | after: {'false alarms':>12} {'(worst split)':>13} {'shifted 100%':>12} {'shifted 25%':>11} "
        f"| before: {'false':>6} {'100%':>6} {'25%':>6}"
    )
    for size in SIZES:
        rate = {(kind, v): counts[(size, kind, v)] / total for kind in kinds for v in ("after", "before")}
        print(
            f"{size:>6} | {rate[('ordinary', 'after')]:>19.1%} {worst_split[size]:>13.1%} "
            f"{rate[('shifted', 'after')]:>12.1%} {rate[('mixed', 'after')]:>11.1%} | "
            f"{rate[('ordinary', 'before')]:>14.1%} {rate[('shifted', 'before')]:>6.1%} "
            f"{rate[('mixed', 'before')]:>6.1%}"
        )
    print("metrics that fired (after), per size: ordinary / shifted 100% / shifted 25%")
    for size in SIZES:
        firing = " / ".join(
            ",".join(f"{m}:{n}" for m, n in sorted(fired[(size, kind)].items())) or "-" for kind in kinds
        )
        print(f"{size:>6} | {firing}")


def draw(rng: np.random.Generator, kind: str, size: int, ordinary: Sample, shifted: Sample) -> Sample:
    if kind == "ordinary":
        return ordinary.take(rows(rng, len(ordinary), size))
    if kind == "shifted":
        return shifted.take(rows(rng, len(shifted), size))
    moved = size // 4
    return concat(shifted.take(rows(rng, len(shifted), moved)), ordinary.take(rows(rng, len(ordinary), size - moved)))


def rows(rng: np.random.Generator, available: int, size: int) -> np.ndarray:
    return rng.choice(available, size, replace=size > available)


def concat(a: Sample, b: Sample) -> Sample:
    import pandas as pd

    embeddings = None if a.embeddings is None or b.embeddings is None else np.vstack([a.embeddings, b.embeddings])
    return Sample(pd.concat([a.columns, b.columns], ignore_index=True), embeddings)


def answers(model: str, tracking_uri: str, texts: list[str]) -> Sample:
    """`texts` through the model's champion, as its worker would answer them."""
    registry = ModelRegistry(tracking_uri)
    champion = registry.by_alias(model)
    assert champion is not None
    with tempfile.TemporaryDirectory() as workdir:
        artifacts = registry.download(champion, Path(workdir))
        loaded = load_class(find(ROOT / "ml-models" / "models", model)).load(artifacts, torch.device("cpu"))
        return Sample.from_reference(lifecycle.answers(loaded, texts))


if __name__ == "__main__":
    sys.exit(main())
