"""``edgeway usage``: what an API key (or a consumer) consumed of its usage plan.

Reads the same Redis counters the edges write for usage plans (throttle bucket, quota per day,
week and month), so the answer is fleet-wide. The key is hashed locally; it never leaves this
process in plain text.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click


async def _read(redis_url: str, subject: str) -> dict[str, Any]:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    from edgeway.edge.policies.usage_plan.store import usage

    client = Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        return await usage(client, subject)
    except (RedisError, OSError) as exc:
        raise click.ClickException(f"cannot read usage from Redis at {redis_url}: {exc}") from None
    finally:
        await client.aclose()


def _table(data: dict[str, Any], who: str) -> str:
    lines = [f"usage of {who}"]
    throttle = data.get("throttle")
    if throttle:
        lines.append(f"  throttle bucket: {throttle.get('tokens')} tokens left")
    quotas = data.get("quotas") or []
    if not quotas:
        lines.append("  no quota counted in the current day, week or month")
    for q in quotas:
        lines.append(f"  {q['period']:<5} {q['id']:<12} plan {q['plan'] or '-'}: used {q['used']}"
                     f" of {q['limit']} ({q['remaining']} left, resets {q['resets_at']})")
    return "\n".join(lines)


@click.command("usage")
@click.option("--key", default=None, help="the API key as the caller presents it")
@click.option("--consumer", default=None, help="or a consumer name (plans of non-key callers)")
@click.option("--redis", "redis_url", envvar="EDGEWAY_REDIS_URL", required=True,
              metavar="URL", help="Redis the edges count in [env: EDGEWAY_REDIS_URL]")
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def usage_command(key: str | None, consumer: str | None, redis_url: str, output: str) -> None:
    """Show what an API key consumed of its usage plan (throttle and quotas), fleet-wide."""
    from edgeway.edge.policies.usage_plan.store import subject_for_consumer, subject_for_key

    if (key is None) == (consumer is None):
        raise click.UsageError("give exactly one of --key and --consumer")
    subject = subject_for_key(key) if key is not None else subject_for_consumer(str(consumer))
    data = asyncio.run(_read(redis_url, subject))
    if output == "json":
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(_table(data, f"consumer {consumer}" if consumer else "the key"))
