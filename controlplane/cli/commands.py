"""Operator commands: apply, validate, versions, show, diff, stages, deploy, promote, rollback,
history. Each has ``--help``; every error prints a clear message and exits non-zero."""

from __future__ import annotations

import getpass
import socket
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from edgeway.controlplane.cli.client import DEFAULT_ADMIN_URL, AdminClient
from edgeway.controlplane.cli.render import (
    DEPLOYMENT_COLUMNS,
    deployment_row,
    emit_json,
    short_hash,
    table,
    when,
)

F = TypeVar("F", bound=Callable[..., Any])


def _author() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:
        return "unknown"


def api_options(func: F) -> F:
    """--admin-url, --token and --output, shared by every command that calls the admin API."""
    func = click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
                        show_default=True, help="table for people, json for scripts")(func)
    func = click.option("--token", envvar="EDGEWAY_ADMIN_TOKEN", default=None,
                        help="admin API bearer token [env: EDGEWAY_ADMIN_TOKEN]")(func)
    return click.option("--admin-url", envvar="EDGEWAY_ADMIN_URL", default=DEFAULT_ADMIN_URL,
                        show_default=True, help="admin API URL [env: EDGEWAY_ADMIN_URL]")(func)


def _read_file(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None


_file_option = click.option("--file", "-f", "path", required=True, metavar="FILE",
                            help="config file (YAML or JSON); - for standard input")
_author_option = click.option("--author", envvar="EDGEWAY_AUTHOR", default=_author,
                              help="who makes the change [env: EDGEWAY_AUTHOR; default user@host]")


@click.command()
@_file_option
@click.option("--message", "-m", default="", help="why this version exists")
@_author_option
@api_options
def apply(path: str, message: str, author: str, admin_url: str, token: str | None,
          output: str) -> None:
    """Create a version from a config file (no new version when nothing changed)."""
    result = AdminClient(admin_url, token).request(
        "POST", "/v1/versions", query={"message": message, "author": author},
        data=_read_file(path), content_type="application/yaml")
    if output == "json":
        emit_json({"version": result["version"], "created": result["created"],
                   "hash": result["hash"]})
    elif result["created"]:
        click.echo(f"created version {result['version']} ({short_hash(result['hash'])})")
    else:
        click.echo(f"no change: identical to version {result['version']} "
                   f"({short_hash(result['hash'])})")


@click.command()
@_file_option
@click.option("--output", "-o", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def validate(path: str, output: str) -> None:
    """Check a config file offline with the same rules as apply (nothing is sent)."""
    from edgeway.common.config.canonical import config_hash
    from edgeway.common.errors import ConfigInvalid
    from edgeway.controlplane.operations import prepare_text

    try:
        config = prepare_text(_read_file(path), source=path)
    except ConfigInvalid as exc:
        if output == "json":
            emit_json({"valid": False, "errors": [e.as_dict() for e in exc.errors]})
            sys.exit(1)
        raise click.ClickException(exc.summary()) from None
    if output == "json":
        emit_json({"valid": True, "hash": config_hash(config)})
    else:
        click.echo(f"{path}: valid ({len(config.routes)} routes, {len(config.upstreams)} "
                   f"upstreams, {len(config.consumers)} consumers)")


@click.command()
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--before", type=click.IntRange(1), default=None, help="page: versions below N")
@api_options
def versions(limit: int, before: int | None, admin_url: str, token: str | None,
             output: str) -> None:
    """List config versions, newest first."""
    data = AdminClient(admin_url, token).request("GET", "/v1/versions",
                                                 query={"limit": limit, "before": before})
    if output == "json":
        emit_json(data)
        return
    click.echo(table(("version", "hash", "created", "author", "message"), [
        (v["number"], short_hash(v["hash"]), when(v["created_at"]), v["author"], v["message"])
        for v in data["versions"]]))
    if data.get("next_before"):
        click.echo(f"(more: --before {data['next_before']})")


@click.command()
@click.argument("version", type=click.IntRange(1))
@api_options
def show(version: int, admin_url: str, token: str | None, output: str) -> None:
    """Print a version's config (YAML, or JSON with --output json)."""
    data = AdminClient(admin_url, token).request("GET", f"/v1/versions/{version}")
    if output == "json":
        emit_json(data)
        return
    import yaml

    click.echo(f"# version {data['number']} {data['hash']} by {data['author']}: "
               f"{data['message']}")
    click.echo(yaml.safe_dump(data["config"], sort_keys=False), nl=False)


@click.command()
@click.argument("old", type=click.IntRange(1))
@click.argument("new", type=click.IntRange(1))
@api_options
def diff(old: int, new: int, admin_url: str, token: str | None, output: str) -> None:
    """Show what changed from version OLD to version NEW."""
    data = AdminClient(admin_url, token).request("GET", "/v1/diff",
                                                 query={"from": old, "to": new})
    if output == "json":
        emit_json(data)
        return
    changes: dict[str, dict[str, Any]] = data["changes"]
    if not changes:
        click.echo(f"versions {old} and {new} are identical")
        return
    for collection, change in changes.items():
        for kind, sign in (("added", "+"), ("removed", "-"), ("changed", "~")):
            for name in change.get(kind, []):
                fields = change.get("details", {}).get(name)
                extra = f" ({', '.join(fields)})" if kind == "changed" and fields else ""
                click.echo(f"{sign} {collection}: {name}{extra}")


@click.command()
@api_options
def stages(admin_url: str, token: str | None, output: str) -> None:
    """List stages with the version each one runs."""
    data = AdminClient(admin_url, token).request("GET", "/v1/stages")
    if output == "json":
        emit_json(data)
        return
    click.echo(table(("stage", "version", "hash", "deployment", "updated"), [
        (s["name"], s["version"], short_hash(s.get("hash")), s["deployment"],
         when(s["updated_at"])) for s in data["stages"]]))


def _print_change(data: dict[str, Any], output: str) -> None:
    if output == "json":
        emit_json(data)
        return
    d, s = data["deployment"], data["stage"]
    before = d.get("previous_version")
    click.echo(f"stage {s['name']}: version {before if before else '(none)'} -> {d['version']} "
               f"({d['action']}, deployment {d['id']})")


@click.command()
@click.argument("version", type=click.IntRange(1))
@click.option("--stage", "-s", required=True, help="stage to deploy to (created on first use)")
@click.option("--message", "-m", default="", help="why")
@_author_option
@api_options
def deploy(version: int, stage: str, message: str, author: str, admin_url: str,
           token: str | None, output: str) -> None:
    """Deploy VERSION to a stage."""
    _print_change(AdminClient(admin_url, token).request(
        "POST", f"/v1/stages/{stage}/deploy",
        json_body={"version": version, "message": message, "author": author}), output)


@click.command()
@click.option("--from", "source", required=True, help="stage whose version is copied")
@click.option("--to", "target", required=True, help="stage that receives it")
@click.option("--message", "-m", default="", help="why")
@_author_option
@api_options
def promote(source: str, target: str, message: str, author: str, admin_url: str,
            token: str | None, output: str) -> None:
    """Promote the version running on one stage to another stage."""
    _print_change(AdminClient(admin_url, token).request(
        "POST", f"/v1/stages/{target}/promote",
        json_body={"from": source, "message": message, "author": author}), output)


@click.command()
@click.option("--stage", "-s", required=True)
@click.option("--to", "to", type=click.IntRange(1), default=None, metavar="DEPLOYMENT",
              help="deployment id to return to (default: the one before the current)")
@click.option("--message", "-m", default="", help="why")
@_author_option
@api_options
def rollback(stage: str, to: int | None, message: str, author: str, admin_url: str,
             token: str | None, output: str) -> None:
    """Roll a stage back to the version of an earlier deployment."""
    body: dict[str, Any] = {"message": message, "author": author}
    if to is not None:
        body["to"] = to
    _print_change(AdminClient(admin_url, token).request(
        "POST", f"/v1/stages/{stage}/rollback", json_body=body), output)


@click.command()
@click.option("--stage", "-s", required=True)
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
@click.option("--before", type=click.IntRange(1), default=None, help="page: deployments below N")
@api_options
def history(stage: str, limit: int, before: int | None, admin_url: str, token: str | None,
            output: str) -> None:
    """Show a stage's deployments, newest first."""
    data = AdminClient(admin_url, token).request(
        "GET", f"/v1/stages/{stage}/history", query={"limit": limit, "before": before})
    if output == "json":
        emit_json(data)
        return
    click.echo(table(DEPLOYMENT_COLUMNS, [deployment_row(d) for d in data["deployments"]]))


@click.command()
@click.option("--stage", "-s", default=None, help="only this stage")
@api_options
def status(stage: str | None, admin_url: str, token: str | None, output: str) -> None:
    """Show the fleet: edges by stage and region, the version each runs, NACKs and laggards."""
    from edgeway.controlplane.discovery.status_view import render_status

    client = AdminClient(admin_url, token)
    nodes = client.request("GET", "/v1/nodes", query={"stage": stage})["nodes"]
    stages = client.request("GET", "/v1/stages")["stages"]
    if stage:
        stages = [s for s in stages if s["name"] == stage]
    if output == "json":
        emit_json({"nodes": nodes, "stages": stages})
        return
    click.echo(render_status(nodes, stages))
