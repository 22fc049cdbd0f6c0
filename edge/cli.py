"""``edgeway edge``: run one edge node (see :mod:`edgeway.edge.node`), in one process or, with
``--workers N``, as a supervisor and N worker processes (:mod:`edgeway.edge.workers`)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
from pathlib import Path

import click

from edgeway.common.clitools import endpoint_list, hostport
from edgeway.common.logging import configure_logging
from edgeway.common.telemetry import configure_tracing, shutdown_tracing

NODE_ID_FILE = "node-id"


def node_id_for(data_dir: Path) -> str:
    """The node id kept in ``data_dir`` (made once: host name and a random suffix)."""
    path = data_dir / NODE_ID_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        node_id = f"{socket.gethostname()}-{secrets.token_hex(3)}"
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(node_id + "\n")
        return node_id


def redis_url_option(ctx: click.Context, param: click.Parameter, value: str | None
                     ) -> str | None:  # fmt: skip
    """A Redis URL with a scheme redis-py knows (connections open on first use)."""
    if not value:
        return None
    if not value.startswith(("redis://", "rediss://", "unix://")):
        raise click.BadParameter("must be a redis://, rediss:// or unix:// URL")
    return value


@click.command("edge")
@click.option("--control-plane", "control_planes", envvar="EDGEWAY_CONTROL_PLANE",
              callback=endpoint_list, metavar="HOST:PORT[,HOST:PORT]",
              help="control-plane gRPC addresses [env: EDGEWAY_CONTROL_PLANE]")
@click.option("--stage", required=True, help="stage whose config this edge serves")
@click.option("--region", default="local", show_default=True, help="region shown in status")
@click.option("--listen", default="127.0.0.1:8080", show_default=True, callback=hostport,
              metavar="HOST:PORT", help="HTTP traffic address")
@click.option("--admin-listen", default="127.0.0.1:8081", show_default=True,
              callback=hostport, metavar="HOST:PORT", help="/healthz, /readyz, /config")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("edgeway-edge-data"), show_default=True,
              help="last-known-good config and node id")
@click.option("--node-id", default=None, help="default: kept in --data-dir")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), default=None,
              help="standalone: serve this config file, no control plane")
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@click.option("--trace-ratio", type=click.FloatRange(0, 1), default=None,
              help="share of new traces recorded (parent-based; default OTEL_TRACES_SAMPLER)")
@click.option("--drain-timeout", type=click.FloatRange(0, 600), default=10.0,
              show_default=True, help="seconds in-flight requests get at shutdown")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="worker processes serving --listen (SO_REUSEPORT)")
@click.option("--redis", "redis_url", envvar="EDGEWAY_REDIS_URL", default=None,
              callback=redis_url_option, metavar="URL",
              help="Redis for fleet-wide rate limits, quotas and caches (redis://, rediss://, "
                   "unix://) [env: EDGEWAY_REDIS_URL]")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
def edge_command(control_planes: tuple[str, ...], stage: str, region: str,
                 listen: tuple[str, int], admin_listen: tuple[str, int], data_dir: Path,
                 node_id: str | None, config_file: Path | None, access_log: bool,
                 trace_ratio: float | None, drain_timeout: float, workers: int,
                 redis_url: str | None, log_level: str) -> None:
    """Run an edge node: receive the stage's config and proxy HTTP traffic with it."""
    if not control_planes and config_file is None:
        raise click.UsageError("give --control-plane HOST:PORT (or --config FILE to run "
                               "standalone)")
    if trace_ratio is not None:
        os.environ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio"
        os.environ["OTEL_TRACES_SAMPLER_ARG"] = str(trace_ratio)
    if workers > 1 and listen[1] == 0:
        raise click.UsageError("--workers above 1 needs a fixed --listen port (SO_REUSEPORT)")
    configure_logging(log_level)
    configure_tracing("edgeway-edge")  # workers set up their own too (they inherit the env)

    import uvloop

    from edgeway.edge.node import EdgeNode, EdgeSettings

    try:
        settings = EdgeSettings(
            stage=stage, region=region, node_id=node_id or node_id_for(data_dir),
            listen=listen, admin_listen=admin_listen, data_dir=data_dir,
            control_planes=control_planes, config_file=config_file, access_log=access_log,
            drain_timeout=drain_timeout, workers=workers, log_level=log_level,
            redis_url=redis_url)
    except OSError as exc:
        raise click.ClickException(f"cannot use --data-dir {data_dir}: {exc}") from None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if settings.workers > 1:
            from edgeway.edge.workers import Supervisor

            await Supervisor(settings).run(stop)
        else:
            await EdgeNode(settings).run(stop)

    try:
        uvloop.run(main())
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc.strerror or exc}") from None
    finally:
        shutdown_tracing()
