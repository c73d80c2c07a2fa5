"""Create everything the platform needs before it starts, idempotently.

1. PostgreSQL: create the database if missing and apply the Alembic migrations.
2. AWS (LocalStack or real AWS, by settings alone): the topic, per model folder a queue and a
   high-priority lane (each with a DLQ), the gateway queue, the bucket (inference_core.aws.provision).
3. The action catalogue: each model folder's action becomes known to the gateway (with its model's
   label set and tokenizer).
4. With ``--republish-unfinished`` (the dev stack passes it when it started an empty LocalStack):
   the events of requests accepted but not finished are published again, since the queues that
   held them are gone.

    python localstack/bootstrap.py   # reads DATABASE_URL, AWS_*, RESOURCE_PREFIX, MODELS_DIR,
    # SQS_MAX_RECEIVE_COUNT, SQS_VISIBILITY_TIMEOUT_SECONDS
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gateway.outbox import republish_unfinished
from gateway.store import register_action
from inference_core.aws.clients import aws_client
from inference_core.aws.provision import ModelRoute, QueueSettings, provision
from inference_core.db.engine import make_engine
from inference_core.db.migrate import upgrade
from inference_core.settings import AwsSettings, Env, database_url
from model_runtime.catalog import discover, read_tokenizer

DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "ml-models" / "models"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--republish-unfinished", action="store_true", help="the broker lost its queues (step 4)")
    args = parser.parse_args()
    env = Env()
    url = database_url(env)
    aws = AwsSettings.from_env(env)
    specs = discover(Path(env.text("MODELS_DIR", str(DEFAULT_MODELS_DIR))))

    upgrade(url)
    topology = provision(
        aws_client("sns", aws),
        aws_client("sqs", aws),
        aws_client("s3", aws),
        aws.names,
        [ModelRoute(spec.name, spec.action) for spec in specs],
        QueueSettings(
            max_receive_count=env.integer(
                "SQS_MAX_RECEIVE_COUNT", QueueSettings.max_receive_count, minimum=1, maximum=1000
            ),
            visibility_timeout_seconds=env.integer(
                "SQS_VISIBILITY_TIMEOUT_SECONDS", QueueSettings.visibility_timeout_seconds, minimum=1, maximum=43_200
            ),
        ),
    )
    engine = make_engine(url, pool_size=1)
    with engine.begin() as conn:
        for spec in specs:
            register_action(conn, spec.action, spec.name, spec.labels, read_tokenizer(spec))
        republished = republish_unfinished(conn) if args.republish_unfinished else 0
    engine.dispose()
    print(f"bootstrap: topic {topology.topic_arn}, bucket {topology.bucket}")
    for spec in specs:
        print(f"bootstrap: action {spec.action!r} -> model {spec.name} -> {topology.model_queue_urls[spec.name]}")
    if republished:
        print(f"bootstrap: {republished} unfinished requests lost with the old queues are published again")


if __name__ == "__main__":
    main()
