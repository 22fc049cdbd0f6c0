"""``edgeway dev``: the whole stack on one machine for trying Edgeway out.

Starts an embedded etcd (data in ``--data-dir``, a temporary folder by default), a control plane
with its admin API, applies the example config and deploys it to the ``dev`` stage, prints what
to try, and stops everything cleanly on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click
import structlog

import edgeway
from edgeway.common.logging import configure_logging
from edgeway.common.net import parse_hostport
from edgeway.controlplane.etcd_server import EmbeddedEtcd
from edgeway.controlplane.server import ControlPlaneSettings, running_control_plane

log = structlog.get_logger(__name__)

EXAMPLE = Path(edgeway.__file__).resolve().parent.parent / "deploy" / "examples" / "gateway.yaml"


async def run_dev(config_path: Path, data_dir: Path | None, admin_listen: tuple[str, int],
                  stop: asyncio.Event) -> None:
    async with EmbeddedEtcd(data_dir) as etcd:
        settings = ControlPlaneSettings(etcd=(etcd.endpoint,), admin_listen=admin_listen)
        async with running_control_plane(settings) as cp:
            text = await asyncio.to_thread(config_path.read_bytes)
            result = await cp.operations.apply_text(text, fmt=None,
                                                    author="edgeway dev",
                                                    message=f"example {config_path.name}")
            await cp.operations.deploy("dev", result.version.number, author="edgeway dev",
                                       message="dev stack start")
            click.echo(
                f"\nEdgeway dev stack is up.\n"
                f"  etcd           {etcd.url}  (data: {etcd.data_dir})\n"
                f"  admin API      {cp.admin_url}/v1/stages  (OpenAPI: "
                f"{cp.admin_url}/v1/openapi.json)\n"
                f"  config         version {result.version.number} from {config_path}, "
                f"deployed to stage dev\n\n"
                f"Try:\n"
                f"  export EDGEWAY_ADMIN_URL={cp.admin_url}\n"
                f"  edgeway versions\n"
                f"  edgeway history --stage dev\n"
                f"  edgeway promote --from dev --to prod -m 'ship it'\n\n"
                f"Ctrl-C stops everything.\n")
            await stop.wait()
            click.echo("stopping the dev stack ...")


@click.command("dev")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False,
              path_type=Path), default=EXAMPLE, show_default=True,
              help="config applied and deployed to stage dev at start")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="keep etcd's data here (default: a temporary folder removed at exit)")
@click.option("--admin-listen", default="127.0.0.1:9080", show_default=True,
              metavar="HOST:PORT", help="admin API address")
def dev_command(config_path: Path, data_dir: Path | None, admin_listen: str) -> None:
    """Run the dev stack: embedded etcd, a control plane, the example config on stage dev."""
    configure_logging("info")
    try:
        listen = parse_hostport(admin_listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--admin-listen") from None

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_dev(config_path, data_dir, listen, stop)

    asyncio.run(main())
