"""The ``edgeway`` command: one CLI for every role and the operator commands.

Sub-commands are imported only when invoked, so ``edgeway edge`` never loads the control plane
and ``edgeway --help`` stays fast.
"""

from __future__ import annotations

import importlib

import click

# command name -> "module:attribute" of a click command, in help order
_COMMANDS: dict[str, str] = {
    "controlplane": "edgeway.controlplane.server:controlplane_command",
    "edge": "edgeway.edge.cli:edge_command",
    "dev": "edgeway.controlplane.dev:dev_command",
    "demo-upstream": "edgeway.controlplane.demo_upstream:demo_upstream_command",
    "apply": "edgeway.controlplane.cli.commands:apply",
    "validate": "edgeway.controlplane.cli.commands:validate",
    "versions": "edgeway.controlplane.cli.commands:versions",
    "show": "edgeway.controlplane.cli.commands:show",
    "diff": "edgeway.controlplane.cli.commands:diff",
    "stages": "edgeway.controlplane.cli.commands:stages",
    "deploy": "edgeway.controlplane.cli.commands:deploy",
    "promote": "edgeway.controlplane.cli.commands:promote",
    "rollback": "edgeway.controlplane.cli.commands:rollback",
    "history": "edgeway.controlplane.cli.commands:history",
    "status": "edgeway.controlplane.cli.commands:status",
    "usage": "edgeway.edge.usage_cli:usage_command",
    "native": "edgeway.edge.native:native_command",
}

_SHORT_HELP: dict[str, str] = {
    "controlplane": "Run a control-plane replica (admin API, config discovery).",
    "edge": "Run an edge node (HTTP proxy fed by the control plane).",
    "dev": "Run the dev stack: etcd, control plane, edge, demo upstream.",
    "demo-upstream": "Run the demo users service on its own.",
    "apply": "Create a version from a YAML/JSON config file.",
    "validate": "Check a config file offline.",
    "versions": "List config versions.",
    "show": "Print one version's config.",
    "diff": "Show what changed between two versions.",
    "stages": "List stages and the version each runs.",
    "deploy": "Deploy a version to a stage.",
    "promote": "Copy one stage's version to another stage.",
    "rollback": "Roll a stage back to an earlier deployment.",
    "history": "Show a stage's deployments, newest first.",
    "status": "Show the edge fleet: versions, lag and NACKs per stage and region.",
    "usage": "Show what an API key consumed of its usage plan (from Redis).",
    "native": "Build the compiled data path (mypyc) or show whether it is in use.",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, _SHORT_HELP[name]) for name in _COMMANDS])


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgeway")
def main() -> None:
    """Edgeway: an API gateway for fleets of edge nodes.

    Roles: `edgeway controlplane`, `edgeway edge`, `edgeway dev`. Operator commands talk to the admin API
    at --admin-url (or EDGEWAY_ADMIN_URL, default http://127.0.0.1:9080).
    """
