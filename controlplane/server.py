"""``edgeway controlplane``: one stateless control-plane replica.

It connects to etcd, serves the admin API and the ConfigDiscovery gRPC stream that edges
connect to, and stops cleanly on SIGINT/SIGTERM (stop accepting,
finish in-flight requests, close the store). Any number of replicas may share one etcd.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import click
import structlog
from aiohttp import web

from edgeway.common.clitools import endpoint_list, hostport
from edgeway.common.logging import configure_logging
from edgeway.common.telemetry import configure_tracing, shutdown_tracing
from edgeway.controlplane.admin import build_admin_app
from edgeway.controlplane.discovery.server import serve_discovery
from edgeway.controlplane.operations import Operations
from edgeway.controlplane.store import EtcdStore, StoreError

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ControlPlaneSettings:
    etcd: tuple[str, ...]
    admin_listen: tuple[str, int]
    grpc_listen: tuple[str, int] = ("127.0.0.1", 9090)
    prefix: str = "/edgeway"
    admin_token: str | None = None


@dataclass(frozen=True, slots=True)
class RunningControlPlane:
    admin_url: str
    grpc_address: str
    operations: Operations


@asynccontextmanager
async def running_control_plane(settings: ControlPlaneSettings) -> AsyncIterator[
        RunningControlPlane]:
    """Connect the store and serve the admin API until the context exits."""
    store = await EtcdStore.connect(settings.etcd, prefix=settings.prefix)
    try:
        ops = Operations(store)
        async with serve_discovery(store, listen=settings.grpc_listen) as discovery:
            runner = web.AppRunner(build_admin_app(ops, token=settings.admin_token),
                                   access_log=None, handle_signals=False)
            await runner.setup()
            try:
                host, port = settings.admin_listen
                site = web.TCPSite(runner, host, port, shutdown_timeout=10.0)
                await site.start()
                bound_port = runner.addresses[0][1] if port == 0 else port
                admin_url = f"http://{host}:{bound_port}"
                grpc_address = discovery.address
                log.info("control plane serving", admin=admin_url, grpc=grpc_address,
                         etcd=list(settings.etcd), prefix=settings.prefix)
                yield RunningControlPlane(admin_url, grpc_address, ops)
            finally:
                await runner.cleanup()
    finally:
        await store.close()


async def serve_until_signalled(settings: ControlPlaneSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with running_control_plane(settings):
        await stop.wait()
        log.info("control plane stopping")


def _endpoints(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    endpoints = endpoint_list(ctx, param, value)
    if not endpoints:
        raise click.BadParameter("give at least one etcd endpoint, e.g. 127.0.0.1:2379")
    return endpoints


@click.command("controlplane")
@click.option("--etcd", required=True, envvar="EDGEWAY_ETCD", callback=_endpoints,
              metavar="URL[,URL...]", help="etcd endpoints, host:port [env: EDGEWAY_ETCD]")
@click.option("--admin-listen", default="127.0.0.1:9080", show_default=True,
              callback=hostport, metavar="HOST:PORT", help="admin API address")
@click.option("--grpc-listen", default="127.0.0.1:9090", show_default=True,
              callback=hostport, metavar="HOST:PORT",
              help="config discovery (gRPC) address that edges connect to")
@click.option("--prefix", default="/edgeway", show_default=True,
              help="etcd key prefix of this Edgeway installation")
@click.option("--admin-token", envvar="EDGEWAY_ADMIN_TOKEN", default=None,
              help="require this bearer token on the admin API [env: EDGEWAY_ADMIN_TOKEN]")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
def controlplane_command(etcd: tuple[str, ...], admin_listen: tuple[str, int],
                         grpc_listen: tuple[str, int], prefix: str, admin_token: str | None,
                         log_level: str) -> None:
    """Run a control-plane replica: the admin API and config discovery over etcd."""
    configure_logging(log_level)
    configure_tracing("edgeway-controlplane")
    if not prefix.startswith("/") or prefix.endswith("/"):
        raise click.BadParameter("must start with / and not end with /", param_hint="--prefix")
    settings = ControlPlaneSettings(etcd=etcd, admin_listen=admin_listen, grpc_listen=grpc_listen,
                                    prefix=prefix, admin_token=admin_token)
    try:
        asyncio.run(serve_until_signalled(settings))
    except StoreError as exc:
        raise click.ClickException(f"cannot use etcd at {','.join(etcd)}: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc.strerror or exc}") from None
    finally:
        shutdown_tracing()
