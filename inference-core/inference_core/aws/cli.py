"""``inference-aws``: the platform's AWS resources, on LocalStack or AWS, by settings alone.

    inference-aws provision
        the topic, each model's two queues (each with a DLQ), the gateway queue and the bucket
        (idempotent: ``make up`` runs it on every start; a pipeline step or a hook Job can)
    inference-aws iam-policies --account-id ID [--out DIR]
        each service's least-privilege policy (``inference_core.aws.iam``): one JSON object of them
        all on stdout, or ``DIR/<service>.json``

The models are the folders under ``MODELS_DIR`` (their ``model.toml``: no model is imported, and
neither torch nor the gateway is needed). Reads AWS_REGION, AWS_ENDPOINT_URL (LocalStack),
RESOURCE_PREFIX, SNS_TOPIC_NAME, S3_BUCKET_NAME, SQS_MAX_RECEIVE_COUNT,
SQS_VISIBILITY_TIMEOUT_SECONDS and S3_FEATURES_EXPIRY_DAYS; credentials as boto3 finds them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from inference_core.aws.clients import aws_client
from inference_core.aws.iam import Account, policies
from inference_core.aws.provision import BucketSettings, ModelRoute, QueueSettings, provision
from inference_core.catalog import discover
from inference_core.settings import AwsSettings, Env, SettingsError


@dataclass(frozen=True)
class ProvisionSettings:
    aws: AwsSettings
    models_dir: Path
    queues: QueueSettings
    bucket: BucketSettings

    @classmethod
    def from_env(cls, env: Env) -> ProvisionSettings:
        return cls(
            aws=AwsSettings.from_env(env),
            models_dir=Path(env.text("MODELS_DIR")),
            queues=QueueSettings(
                max_receive_count=env.integer(
                    "SQS_MAX_RECEIVE_COUNT", QueueSettings.max_receive_count, minimum=1, maximum=1000
                ),
                visibility_timeout_seconds=env.integer(
                    "SQS_VISIBILITY_TIMEOUT_SECONDS",
                    QueueSettings.visibility_timeout_seconds,
                    minimum=1,
                    maximum=43_200,
                ),
            ),
            bucket=BucketSettings(
                features_expiry_days=env.integer(
                    "S3_FEATURES_EXPIRY_DAYS", BucketSettings.features_expiry_days, minimum=1, maximum=36_500
                )
            ),
        )


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:  # from the environment alone: never a running `make up`'s settings, which name LocalStack
        settings = ProvisionSettings.from_env(Env())
    except SettingsError as exc:
        raise SystemExit(f"inference-aws: {exc}") from None
    routes = [ModelRoute(spec.name, spec.action) for spec in discover(settings.models_dir)]
    if not routes:
        raise SystemExit(f"inference-aws: no model folders (*/model.toml) under {settings.models_dir}")
    if args.command == "provision":
        aws = settings.aws
        where = aws.endpoint_url or "AWS"
        print(f"provisioning on {where}, region {aws.region}, resource prefix {aws.names.prefix or '(none)'!r}")
        clients = (aws_client("sns", aws), aws_client("sqs", aws), aws_client("s3", aws))
        topology = provision(*clients, aws.names, routes, settings.queues, settings.bucket)
        print(f"provisioned: topic {topology.topic_arn}, bucket {topology.bucket}")
        for route in routes:
            queue, lane = topology.model_queue_urls[route.model_name], topology.priority_queue_urls[route.model_name]
            print(f"provisioned: action {route.action!r} -> model {route.model_name} -> {queue} (high: {lane})")
        return
    account = Account(args.account_id, settings.aws.region)
    documents = policies(settings.aws.names, [r.model_name for r in routes], account)
    if args.out is None:
        print(json.dumps(documents, indent=2))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    for service, document in documents.items():
        (args.out / f"{service}.json").write_text(json.dumps(document, indent=2) + "\n")
    print(f"wrote {', '.join(f'{s}.json' for s in documents)} to {args.out}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inference-aws", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("provision", help="create or update the platform's topic, queues and bucket")
    iam = commands.add_parser("iam-policies", help="print or write each service's least-privilege IAM policy")
    iam.add_argument("--account-id", required=True, type=_account_id, help="the AWS account the resources live in")
    iam.add_argument("--out", type=Path, help="a directory for <service>.json files (default: stdout)")
    return parser


def _account_id(raw: str) -> str:
    if not (raw.isdigit() and len(raw) == 12):
        raise argparse.ArgumentTypeError(f"an AWS account id is 12 digits, got {raw!r}")
    return raw


if __name__ == "__main__":
    main()
