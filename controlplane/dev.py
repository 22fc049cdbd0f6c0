"""``edgeway dev``: the whole stack on one machine for trying Edgeway out.

Starts an embedded etcd (data in ``--data-dir``, a temporary folder by default), a control plane
(admin API and config discovery), the demo upstream, and one edge on stage ``dev``; applies the
example config and deploys it to ``dev``; prints what to try; stops everything cleanly on
Ctrl-C (edge first, so it drains, then the control plane, then etcd).
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import click
import structlog
from aiohttp import web

import edgeway
from edgeway.common.logging import configure_logging
from edgeway.common.net import parse_hostport
from edgeway.controlplane.demo_upstream import demo_upstream_app
from edgeway.controlplane.etcd_server import EmbeddedEtcd
from edgeway.controlplane.server import ControlPlaneSettings, running_control_plane
from edgeway.edge.node import EdgeNode, EdgeSettings

log = structlog.get_logger(__name__)

EXAMPLE = Path(edgeway.__file__).resolve().parent.parent / "deploy" / "examples" / "gateway.yaml"


@asynccontextmanager
async def _demo_upstream(listen: tuple[str, int]) -> AsyncIterator[str]:
    runner = web.AppRunner(demo_upstream_app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, *listen).start()
        yield f"http://{listen[0]}:{listen[1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def _edge(settings: EdgeSettings) -> AsyncIterator[EdgeNode]:
    node = EdgeNode(settings)
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(node.run(stop, started), name="dev edge")
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # raises why the edge could not start
    try:
        yield node
    finally:
        stop.set()
        await task


async def run_dev(config_path: Path, data_dir: Path, ports: dict[str, tuple[str, int]],
                  stop: asyncio.Event) -> None:
    async with EmbeddedEtcd(data_dir / "etcd") as etcd:
        settings = ControlPlaneSettings(etcd=(etcd.endpoint,), admin_listen=ports["admin"],
                                        grpc_listen=ports["grpc"])
        async with running_control_plane(settings) as cp, _demo_upstream(ports["demo"]) as demo:
            text = await asyncio.to_thread(config_path.read_bytes)
            result = await cp.operations.apply_text(text, fmt=None, author="edgeway dev",
                                                    message=f"example {config_path.name}")
            await cp.operations.deploy("dev", result.version.number, author="edgeway dev",
                                       message="dev stack start")
            edge_settings = EdgeSettings(
                stage="dev", region="local", node_id="dev-edge-1", listen=ports["edge"],
                admin_listen=ports["edge_admin"], data_dir=data_dir / "edge",
                control_planes=(cp.grpc_address,), drain_timeout=2.0)
            async with _edge(edge_settings) as edge:
                edge_url = f"http://{ports['edge'][0]}:{edge.port}"
                click.echo(
                    f"\nEdgeway dev stack is up.\n"
                    f"  edge (stage dev) {edge_url}   admin: http://{ports['edge_admin'][0]}:"
                    f"{edge.admin_port}/config\n"
                    f"  demo upstream    {demo}\n"
                    f"  admin API        {cp.admin_url}/v1/stages  (OpenAPI: "
                    f"{cp.admin_url}/v1/openapi.json)\n"
                    f"  config discovery {cp.grpc_address} (gRPC)\n"
                    f"  etcd             {etcd.url}  (data: {data_dir})\n"
                    f"  config           version {result.version.number} from {config_path}, "
                    f"deployed to stage dev\n\n"
                    f"Try:\n"
                    f"  curl -i {edge_url}/users\n"
                    f"  curl -i {edge_url}/status\n"
                    f"  export EDGEWAY_ADMIN_URL={cp.admin_url}\n"
                    f"  .venv/bin/edgeway status\n"
                    f"  .venv/bin/edgeway history --stage dev\n\n"
                    f"Ctrl-C stops everything.\n")
                await stop.wait()
                click.echo("stopping the dev stack ...")


def _address(name: str, value: str) -> tuple[str, int]:
    try:
        return parse_hostport(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from None


@click.command("dev")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), default=EXAMPLE, show_default=True,
              help="config applied and deployed to stage dev at start")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="keep etcd's and the edge's data here (default: a temporary folder)")
@click.option("--edge-listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT")
@click.option("--edge-admin-listen", default="127.0.0.1:8081", show_default=True,
              metavar="HOST:PORT")
@click.option("--admin-listen", default="127.0.0.1:9080", show_default=True,
              metavar="HOST:PORT", help="admin API address")
@click.option("--grpc-listen", default="127.0.0.1:9090", show_default=True,
              metavar="HOST:PORT", help="config discovery address")
@click.option("--demo-listen", default="127.0.0.1:8001", show_default=True,
              metavar="HOST:PORT", help="demo upstream (the example config points here)")
def dev_command(config_path: Path, data_dir: Path | None, edge_listen: str,
                edge_admin_listen: str, admin_listen: str, grpc_listen: str,
                demo_listen: str) -> None:
    """Run the dev stack: etcd, a control plane, a demo upstream and an edge on stage dev."""
    configure_logging("info")
    ports = {"edge": _address("--edge-listen", edge_listen),
             "edge_admin": _address("--edge-admin-listen", edge_admin_listen),
             "admin": _address("--admin-listen", admin_listen),
             "grpc": _address("--grpc-listen", grpc_listen),
             "demo": _address("--demo-listen", demo_listen)}

    async def main(folder: Path) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_dev(config_path, folder, ports, stop)

    import uvloop

    try:
        if data_dir is not None:
            uvloop.run(main(data_dir))
        else:
            with tempfile.TemporaryDirectory(prefix="edgeway-dev-") as tmp:
                uvloop.run(main(Path(tmp)))
    except OSError as exc:
        raise click.ClickException(f"cannot start the dev stack: {exc.strerror or exc} "
                                   "(is another dev stack running? see --help for the "
                                   "--*-listen options)") from None
