"""``annotation-sync run [--model NAME]``: the sync job's composition root.

Exit status 0 when every model synced; 1 when Label Studio could not be reached or refused a call
(the message says which; nothing was lost, the next run goes on from where this one stopped) or a
setting is missing; 2 for a model without labels.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from annotation.label_studio import LabelStudio, LabelStudioUnavailable
from annotation.settings import Settings
from annotation.store import PostgresAnnotations
from annotation.sync import SyncResult, sync_model
from inference_core.db.engine import make_engine
from inference_core.settings import job_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="annotation-sync", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="push unsure predictions to Label Studio and pull people's labels")
    run.add_argument("--model", help="only this model (default: every model whose results are labels)")
    args = parser.parse_args(argv)
    settings = job_settings(Settings.from_env, "annotation-sync")
    engine = make_engine(settings.database_url, pool_size=2)  # one holds the model's lock, one works
    board = LabelStudio(settings.label_studio_url, settings.label_studio_api_key, settings.timeout_seconds)
    try:
        store = PostgresAnnotations(engine)
        label_sets = store.label_sets()
        if args.model is not None:
            if args.model not in label_sets:
                print(
                    f"annotation-sync: model {args.model!r} has no label set to annotate; "
                    f"models with labels: {', '.join(sorted(label_sets)) or 'none'}",
                    file=sys.stderr,
                )
                return 2
            label_sets = {args.model: label_sets[args.model]}
        now = datetime.now(UTC)
        for model, label_set in sorted(label_sets.items()):
            print(describe(sync_model(board, store, model, label_set, settings.sync, now)), flush=True)
    except LabelStudioUnavailable as exc:
        print(f"annotation-sync: {exc}", file=sys.stderr)
        return 1
    finally:
        board.close()
        engine.dispose()
    return 0


def describe(result: SyncResult) -> str:
    if result.skipped:
        return f"annotation-sync: {result.model}: another run holds this model; skipped"
    return (
        f"annotation-sync: {result.model} (project {result.project_id}): pushed {result.pushed} tasks "
        f"({result.uncertainty} least confident, {result.random} at random, {result.recovered} recovered); "
        f"pulled {result.pulled_tasks} changed tasks: {result.labels_stored} labels stored, "
        f"{result.labels_removed} removed"
    )


if __name__ == "__main__":
    sys.exit(main())
