"""Time of the annotation sync as the candidates grow (1,000 / 10,000 succeeded requests never sent).

    python benchmarks/annotation_sync.py [--sizes 1000 10000]   # needs `make up` (PostgreSQL, Label Studio)

Requests are seeded straight into a scratch database; each size gets a Label Studio project of its
own (deleted at the end). For each size it times the real sync (`annotation.sync.sync_model`, the
code `annotation-sync run` calls) for: a first run with the default cap (choose 100 of the
candidates, import them, pull), a run that sends every remaining candidate at once, a minute later
the next run (it reads those tasks once more: the watermark stays a minute behind each run's start)
and an idle run (nothing sent, nothing changed); then people label 1,000 tasks through Label
Studio's API and it times the run that pulls them.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from annotation.label_studio import LabelStudio
from annotation.settings import Settings
from annotation.store import PostgresAnnotations
from annotation.sync import SyncResult, SyncSettings, sync_model
from sqlalchemy import insert, make_url

from gateway.store import register_action
from inference_core.db.engine import make_engine
from inference_core.db.migrate import upgrade
from inference_core.db.schema import RequestStatus, inference_requests
from inference_core.settings import use_local_stack

LABELS = ("negative", "positive")
LABELLED = 1000


def seed(url: str, rows: int) -> None:
    engine = make_engine(url)
    rng = random.Random(rows)
    now = datetime.now(UTC) - timedelta(minutes=5)
    with engine.begin() as conn:
        register_action(conn, "sentiment", "sentiment", LABELS)
        for start in range(0, rows, 5000):
            batch = []
            for i in range(start, min(rows, start + 5000)):
                confidence = 0.5 + rng.random() / 2
                request_id = uuid.uuid4()
                batch.append(
                    {
                        "id": request_id,
                        "action": "sentiment",
                        "input_text": f"review {i}: " + " ".join(rng.choices(["good", "bad", "slow", "warm"], k=12)),
                        "request_fingerprint": request_id.hex,
                        "status": RequestStatus.SUCCEEDED.value,
                        "model_name": "sentiment",
                        "model_version": "1",
                        "result": {"label": rng.choice(LABELS), "confidence": confidence},
                        "completed_at": now,
                    }
                )
            conn.execute(insert(inference_requests), batch)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    args = parser.parse_args()
    use_local_stack()
    settings = Settings.from_env()
    board = LabelStudio(settings.label_studio_url, settings.label_studio_api_key, timeout_seconds=300)
    http = httpx.Client(
        base_url=settings.label_studio_url,
        headers={"Authorization": f"Token {settings.label_studio_api_key}"},
        timeout=60,
    )
    base = make_url(settings.database_url)
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    print(
        f"{'candidates':>10} | {'first run (100 sent)':>20} | {'send all':>17} | {'next run':>9} | {'idle run':>8} | "
        f"{'label 1,000 (API)':>17} | {'pull 1,000 labels':>17}"
    )
    for size in args.sizes:
        database = f"annotation_bench_{uuid.uuid4().hex[:8]}"
        url = base.set(database=database).render_as_string(hide_password=False)
        upgrade(url)
        try:
            seed(url, size)
            print(measure(board, http, url, size), flush=True)
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    board.close()


def measure(board: LabelStudio, http: httpx.Client, url: str, size: int) -> str:
    engine = make_engine(url)
    store = PostgresAnnotations(engine)
    sync = SyncSettings(project_prefix=f"bench-{uuid.uuid4().hex[:6]}-")

    def run(options: SyncSettings) -> tuple[float, SyncResult]:
        started = time.perf_counter()
        result = sync_model(board, store, "sentiment", LABELS, options, datetime.now(UTC))
        return time.perf_counter() - started, result

    first_s, first = run(sync)
    assert first.project_id is not None and first.pushed == 100, first
    try:
        all_s, everything = run(dataclasses.replace(sync, max_tasks=size))
        assert first.pushed + everything.pushed == size, everything
        # A run re-reads the changes of the minute before the last one started (commit lag): wait
        # that out, so the next runs show the steady state rather than the tasks just imported.
        time.sleep(sync.pull_overlap.total_seconds() + 1)
        reread_s, reread = run(sync)  # the next run reads the imported tasks once more
        assert reread.pushed == 0 and reread.pulled_tasks >= everything.pushed, reread
        idle_s, idle = run(sync)
        assert (idle.pushed, idle.pulled_tasks) == (0, 0), idle
        label_s = label(http, first.project_id, LABELLED)
        pull_s, pulled = run(sync)
        assert pulled.labels_stored == LABELLED, pulled
    finally:
        http.delete(f"/api/projects/{first.project_id}")
        engine.dispose()
    return (
        f"{size:>10,} | {first_s:>19.2f}s | {all_s:>7.2f}s ({everything.pushed:>6,}) | {reread_s:>8.2f}s | "
        f"{idle_s:>7.2f}s | {label_s:>16.2f}s | {pull_s:>16.2f}s"
    )


def label(http: httpx.Client, project_id: int, count: int) -> float:
    """People label `count` tasks, one API call each, as the web page does."""
    started = time.perf_counter()
    answer = http.get("/api/tasks", params={"project": project_id, "page_size": count, "fields": "all"})
    answer.raise_for_status()
    tasks: list[dict[str, Any]] = answer.json()["tasks"]
    for task in tasks[:count]:
        choice = {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["negative"]}}
        http.post(f"/api/tasks/{task['id']}/annotations", json={"result": [choice]}).raise_for_status()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
