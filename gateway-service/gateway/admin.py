"""``gateway-admin``: the gateway's database, and the operator's tenants and API keys.

    gateway-admin setup [--republish-unfinished]
                  (migrate the database, make each model folder's action known; idempotent: `make up`
                   runs it, a deployment's pre-install/pre-upgrade hook can; --republish-unfinished is for
                   a broker that lost its queues)
    gateway-admin tenants create NAME [--rate R --burst B | --no-rate-limit]
                                      [--tokens-per-minute N] [--tokens-per-day N] [--high-priority] [--if-missing]
    gateway-admin tenants set NAME (--rate R --burst B | --no-rate-limit) | tenants list
    gateway-admin tenants quota NAME [--tokens-per-minute N] [--tokens-per-day N]   (omitted: no limit)
    gateway-admin tenants priority NAME (high | normal)   (may it send high-priority requests)
    gateway-admin tenants callback-secret NAME   (a new secret that signs its callbacks, printed once)
    gateway-admin keys create TENANT | keys list [--tenant T] | keys revoke KEY_ID
    gateway-admin keys import TENANT   (the key on stdin: one kept in a secret store, or make up's dev key)
    gateway-admin dlq list MODEL | dlq show MODEL REQUEST_ID | dlq redrive MODEL [--request ID ...]
                  (each with --high for the model's high-priority lane)

A created key is printed once, alone on stdout (so a script can capture it); only its hash is kept.
Reads DATABASE_URL, MODELS_DIR for ``setup``, and the AWS settings for ``dlq`` (beside `make up`,
from the stack's settings when unset). Exit status 1, with the reason on stderr, when the command cannot be done.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from uuid import UUID

from sqlalchemy import Connection, Engine

from gateway import dead_letters, store
from gateway.auth import KEY_PREFIX, SHOWN_PREFIX_LENGTH, generate_key, hash_key
from gateway.callbacks import generate_secret
from gateway.outbox import republish_unfinished
from gateway.store import NO_TOKEN_QUOTA, SqlFailedRequests, TokenQuota
from gateway.unit_of_work import RateLimit
from inference_core.aws.clients import aws_client
from inference_core.aws.sqs import SqsQueue
from inference_core.catalog import discover, read_tokenizer
from inference_core.db.engine import make_engine
from inference_core.db.migrate import upgrade
from inference_core.settings import AwsSettings, Env, database_url, job_settings

TENANT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
DEFAULT_RATE_LIMIT = RateLimit(per_second=50, burst=100)  # per key, for a tenant created without one
MIN_IMPORTED_KEY_LENGTH = 32  # about 190 bits of a token_urlsafe key: nothing shorter is a secret


class AdminError(Exception):
    """A command that cannot be done: its message says why."""


def create_tenant(
    conn: Connection,
    name: str,
    rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
    if_missing: bool = False,
    token_quota: TokenQuota = NO_TOKEN_QUOTA,
    high_priority: bool = False,
) -> str:
    if not TENANT_NAME.fullmatch(name):
        raise AdminError(f"tenant names are 1-63 of a-z, 0-9, '_' and '-', starting with a letter or digit: {name!r}")
    if not store.create_tenant(conn, name, rate_limit, token_quota, high_priority):
        if if_missing:
            return f"tenant {name} exists"
        raise AdminError(f"tenant {name} already exists")
    lanes = _describe_priority(high_priority)
    return f"created tenant {name} ({_describe(rate_limit)}; {_describe_quota(token_quota)}; {lanes})"


def set_priority(conn: Connection, name: str, highest: str) -> str:
    if not store.set_high_priority(conn, name, highest == "high"):
        raise AdminError(f"no tenant {name}")
    return (
        f"tenant {name}: {_describe_priority(highest == 'high')} (gateways apply it within GATEWAY_KEY_CACHE_SECONDS)"
    )


def _describe_priority(high_priority: bool) -> str:
    return "high and normal priority" if high_priority else "normal priority only"


def set_token_quota(conn: Connection, name: str, token_quota: TokenQuota) -> str:
    if not store.set_token_quota(conn, name, token_quota):
        raise AdminError(f"no tenant {name}")
    return f"tenant {name}: {_describe_quota(token_quota)} (from its next submission)"


def _describe_quota(quota: TokenQuota) -> str:
    windows = [f"{n} tokens/{w}" for n, w in ((quota.per_minute, "minute"), (quota.per_day, "day")) if n is not None]
    return ", ".join(windows) or "no token quota"


def set_rate_limit(conn: Connection, name: str, rate_limit: RateLimit | None) -> str:
    if not store.set_rate_limit(conn, name, rate_limit):
        raise AdminError(f"no tenant {name}")
    return f"tenant {name}: {_describe(rate_limit)} (gateways apply it within GATEWAY_KEY_CACHE_SECONDS)"


def _describe(rate_limit: RateLimit | None) -> str:
    if rate_limit is None:
        return "no rate limit"
    return f"{rate_limit.per_second:g} requests/s per key, bursts of {rate_limit.burst}"


def create_key(conn: Connection, tenant: str) -> tuple[int, str]:
    if not store.tenant_exists(conn, tenant):
        raise AdminError(f"no tenant {tenant}; create it first (gateway-admin tenants create {tenant})")
    key = generate_key()
    key_id = store.add_key(conn, tenant, hash_key(key), key[:SHOWN_PREFIX_LENGTH])
    assert key_id is not None, "a fresh random key collided with a stored one"
    return key_id, key


def import_key(conn: Connection, tenant: str, key: str) -> str:
    """Make `key` one of `tenant`'s keys; nothing changes if it already is."""
    if len(key) < MIN_IMPORTED_KEY_LENGTH or any(c.isspace() for c in key):
        raise AdminError(f"a key is at least {MIN_IMPORTED_KEY_LENGTH} characters without spaces")
    if not store.tenant_exists(conn, tenant):
        raise AdminError(f"no tenant {tenant}; create it first (gateway-admin tenants create {tenant})")
    existing = store.key_by_hash(conn, hash_key(key))
    if existing is not None:
        if existing.tenant != tenant:
            raise AdminError(f"this key belongs to another tenant (key {existing.id})")
        if existing.revoked_at is not None:
            raise AdminError(f"this key (key {existing.id}) was revoked at {existing.revoked_at:%Y-%m-%d %H:%M}Z")
        return f"key {existing.id} of tenant {tenant} is already in place"
    key_id = store.add_key(conn, tenant, hash_key(key), key[:SHOWN_PREFIX_LENGTH])
    return f"imported key {key_id} for tenant {tenant}"


def revoke_key(conn: Connection, key_id: int) -> str:
    revoked = store.revoke_key(conn, key_id)
    if revoked is None:
        raise AdminError(f"no key {key_id}")
    return f"revoked key {key_id} ({revoked.prefix}...) of tenant {revoked.tenant}"


def setup(engine: Engine, url: str, models_dir: Path, republish: bool) -> list[str]:
    """Migrate the database, make each model folder's action known, and, for a broker that lost its
    queues, make the events of unfinished requests pending again."""
    upgrade(url)
    specs = discover(models_dir)
    with engine.begin() as conn:
        for spec in specs:
            store.register_action(conn, spec.action, spec.name, spec.labels, read_tokenizer(spec))
        republished = republish_unfinished(conn) if republish else 0
    lines = ["database migrated"] + [f"action {s.action!r} -> model {s.name}" for s in specs]
    if republished:
        lines.append(f"{republished} unfinished requests lost with the old queues are published again")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    url = job_settings(lambda: database_url(Env()), "gateway-admin")
    engine = make_engine(url)
    try:
        if args.group == "setup":
            models_dir = Path(job_settings(lambda: Env().text("MODELS_DIR"), "gateway-admin"))
            lines = setup(engine, url, models_dir, args.republish_unfinished)
        elif args.group == "dlq":
            lines = _dead_letters(engine, args)
        else:
            with engine.begin() as conn:
                lines = _run(conn, args)
        for line in lines:  # once committed: a key is never shown that was not stored
            print(line)
    except AdminError as exc:
        print(f"gateway-admin: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        engine.dispose()


def _run(conn: Connection, args: argparse.Namespace) -> list[str]:
    match (args.group, args.command):
        case ("tenants", "create"):
            rate_limit = _rate_limit(args, DEFAULT_RATE_LIMIT)
            quota = _token_quota(args)
            return [create_tenant(conn, args.name, rate_limit, args.if_missing, quota, args.high_priority)]
        case ("tenants", "set"):
            return [set_rate_limit(conn, args.name, _rate_limit(args, None))]
        case ("tenants", "quota"):
            return [set_token_quota(conn, args.name, _token_quota(args))]
        case ("tenants", "priority"):
            return [set_priority(conn, args.name, args.highest)]
        case ("tenants", "callback-secret"):
            secret = generate_secret()
            if not store.set_callback_secret(conn, args.name, secret):
                raise AdminError(f"no tenant {args.name}")
            print(
                f"callback secret of tenant {args.name} (it signs callbacks from now on; gateways accept "
                "callback_url from the tenant within GATEWAY_KEY_CACHE_SECONDS); it is shown only now:",
                file=sys.stderr,
            )
            return [secret]
        case ("tenants", "list"):
            header = f"{'TENANT':<24} {'KEYS':>4}  {'CREATED':<17}  {'PRIORITY':<8}  {'RATE LIMIT':<40}  TOKEN QUOTA"
            return [header] + [
                f"{t.name:<24} {t.live_keys:>4}  {t.created_at:%Y-%m-%d %H:%M}Z  "
                f"{'high' if t.high_priority else 'normal':<8}  {_describe(t.rate_limit):<40}  "
                f"{_describe_quota(t.token_quota)}"
                for t in store.list_tenants(conn)
            ]
        case ("keys", "create"):
            key_id, key = create_key(conn, args.tenant)
            print(f"key {key_id} for tenant {args.tenant}; it is shown only now:", file=sys.stderr)
            return [key]
        case ("keys", "import"):
            return [import_key(conn, args.tenant, sys.stdin.readline().strip())]
        case ("keys", "list"):
            keys = store.list_keys(conn, args.tenant)
            return [f"{'ID':>5}  {'TENANT':<24} {'KEY':<12} {'CREATED':<17}  REVOKED"] + [
                f"{k.id:>5}  {k.tenant:<24} {k.prefix + '...':<12} {k.created_at:%Y-%m-%d %H:%M}Z  "
                + (f"{k.revoked_at:%Y-%m-%d %H:%M}Z" if k.revoked_at else "-")
                for k in keys
            ]
        case ("keys", "revoke"):
            return [revoke_key(conn, args.key_id)]
    raise AdminError(f"unknown command {args.group} {args.command}")  # pragma: no cover - argparse refuses it


def _dead_letters(engine: Engine, args: argparse.Namespace) -> list[str]:
    aws = job_settings(lambda: AwsSettings.from_env(Env()), "gateway-admin")
    sqs = aws_client("sqs", aws)
    queue_name = aws.names.priority_queue(args.model) if args.high else aws.names.model_queue(args.model)
    try:
        source = SqsQueue.named(sqs, queue_name)
        dead = SqsQueue.named(sqs, aws.names.dead_letter_queue(queue_name))
    except sqs.exceptions.QueueDoesNotExist:
        raise AdminError(f"model {args.model} has no queue {queue_name} (or no dead-letter queue)") from None
    requests = SqlFailedRequests(engine)
    match args.command:
        case "list":
            letters = dead_letters.peek(dead, requests, args.limit)
            return [f"{'REQUEST':<36}  {'REACHED DLQ':<20}  {'STATUS':<9}  REASON"] + [
                f"{d.request_id or '(not a request)'!s:<36}  {_when(d.sent_at):<20}  {d.status or '-':<9}  "
                f"{d.reason or '-'}"
                for d in letters
            ]
        case "show":
            found = [d for d in dead_letters.peek(dead, requests, args.limit) if str(d.request_id) == args.request_id]
            if not found:
                raise AdminError(f"no message of request {args.request_id} in {dead.url}")
            return [json.dumps({**dead_letters.describe(d), "body": d.body}, indent=2) for d in found]
        case _:
            only = {UUID(request_id) for request_id in args.request} if args.request else None
            done = dead_letters.redrive(dead, source, requests, only)
            return [
                f"moved {done.moved} messages back to {queue_name} ({done.requeued} failed requests queued again); "
                f"{done.left} left in its dead-letter queue"
            ]


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S}Z" if at else "-"


def _rate_limit(args: argparse.Namespace, default: RateLimit | None) -> RateLimit | None:
    if args.no_rate_limit:
        return None
    if args.rate is None and args.burst is None:
        if default is None:
            raise AdminError("give --rate and --burst, or --no-rate-limit")
        return default
    if args.rate is None or args.burst is None or args.rate <= 0 or args.burst < 1:
        raise AdminError("a rate limit is --rate (requests per second, above 0) with --burst (1 or more)")
    return RateLimit(args.rate, args.burst)


def _token_quota(args: argparse.Namespace) -> TokenQuota:
    for value in (args.tokens_per_minute, args.tokens_per_day):
        if value is not None and value < 1:
            raise AdminError("a token quota is 1 token or more per window (omit it for no limit)")
    return TokenQuota(args.tokens_per_minute, args.tokens_per_day)


def _quota_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tokens-per-minute", type=int, help="the tenant's tokens per UTC minute (default: no limit)")
    parser.add_argument("--tokens-per-day", type=int, help="the tenant's tokens per UTC day (default: no limit)")


def _limit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("--rate", type=float, help="requests per second per key")
    parser.add_argument("--burst", type=int, help="requests a key may send at once")
    parser.add_argument("--no-rate-limit", action="store_true", help="never limit this tenant's keys")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway-admin", description="The database, tenants and their API keys.")
    groups = parser.add_subparsers(dest="group", required=True)
    setup_command = groups.add_parser("setup", help="migrate the database, register the model folders' actions")
    setup_command.add_argument(
        "--republish-unfinished", action="store_true", help="publish unfinished requests again (the queues were lost)"
    )
    tenants = groups.add_parser("tenants").add_subparsers(dest="command", required=True)
    default = f"{DEFAULT_RATE_LIMIT.per_second:g}/s, burst {DEFAULT_RATE_LIMIT.burst}"
    create = tenants.add_parser("create", help=f"create a tenant (rate limit by default {default})")
    _limit_arguments(create)
    _quota_arguments(create)
    create.add_argument("--high-priority", action="store_true", help="may send high-priority requests")
    create.add_argument("--if-missing", action="store_true", help="no error if it exists (nothing changes then)")
    _limit_arguments(tenants.add_parser("set", help="change a tenant's rate limit"))
    quota = tenants.add_parser("quota", help="set a tenant's token quota (a window left out has no limit)")
    quota.add_argument("name")
    _quota_arguments(quota)
    priority = tenants.add_parser("priority", help="the highest priority a tenant's requests may have")
    priority.add_argument("name")
    priority.add_argument("highest", choices=["high", "normal"])
    secret = tenants.add_parser("callback-secret", help="make a new secret that signs the tenant's callbacks")
    secret.add_argument("name")
    tenants.add_parser("list", help="list tenants, their limits and how many live keys each holds")
    keys = groups.add_parser("keys").add_subparsers(dest="command", required=True)
    keys.add_parser("create", help=f"create a key ({KEY_PREFIX}...) and print it once").add_argument("tenant")
    keys.add_parser("import", help="add the key read from stdin").add_argument("tenant")
    keys.add_parser("list", help="list keys (their first characters, never the key)").add_argument("--tenant")
    keys.add_parser("revoke", help="revoke a key by its id").add_argument("key_id", type=int)
    dlq = groups.add_parser("dlq", help="a model's dead-letter queue").add_subparsers(dest="command", required=True)
    listing = dlq.add_parser("list", help="its messages: request, when, status and reason (consumes nothing)")
    listing.add_argument("model")
    listing.add_argument("--limit", type=int, default=100)
    show = dlq.add_parser("show", help="one request's message, body included")
    show.add_argument("model")
    show.add_argument("request_id", type=_uuid)
    show.add_argument("--limit", type=int, default=1000, help="how many messages to look through")
    redrive = dlq.add_parser("redrive", help="move messages back to the model's queue (their requests queued again)")
    redrive.add_argument("model")
    redrive.add_argument("--request", action="append", type=_uuid, help="only this request's (repeatable)")
    for command in (listing, show, redrive):
        command.add_argument("--high", action="store_true", help="the model's high-priority lane's DLQ")
    return parser


def _uuid(raw: str) -> str:
    return str(UUID(raw))  # argparse turns the ValueError into a usage error


if __name__ == "__main__":
    main()
