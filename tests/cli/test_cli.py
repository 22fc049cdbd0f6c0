"""The `edgeway` CLI as a user runs it: a real process against a real control plane."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.admin.configs import FIVE_PROBLEMS, MINIMAL, with_route
from tests.support.controlplane import ControlPlane
from tests.support.processes import free_port, run_cli

COMMANDS = ["controlplane", "edge", "dev", "demo-upstream", "apply", "validate", "versions",
            "show", "diff", "stages", "deploy", "promote", "rollback", "history", "status",
            "usage"]


@pytest.fixture
def env(control_plane: ControlPlane) -> dict[str, str]:
    return {"EDGEWAY_ADMIN_URL": control_plane.url, "EDGEWAY_AUTHOR": "cli-test"}


def write(tmp_path: Path, text: str, name: str = "gateway.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_every_command_has_help() -> None:
    top = run_cli("--help")
    assert top.returncode == 0
    for command in COMMANDS:
        assert command in top.stdout
        result = run_cli(command, "--help")
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout


def test_apply_prints_the_new_version_then_no_change(tmp_path: Path,
                                                     env: dict[str, str]) -> None:
    path = write(tmp_path, with_route("cli-apply", "/cli-apply"))
    first = run_cli("apply", "-f", path, "-m", "from the cli", "--output", "json", env=env)
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert set(data) == {"version", "created", "hash"}
    assert data["created"] is True
    again = run_cli("apply", "-f", path, env=env)
    assert again.returncode == 0
    assert again.stdout.startswith(f"no change: identical to version {data['version']}")


def test_apply_of_an_invalid_config_lists_every_error_and_exits_1(
        tmp_path: Path, env: dict[str, str]) -> None:
    fixed = FIVE_PROBLEMS.replace("pathz", "paths").replace('["/d"]', '["/d"]\n    upstream: users')
    result = run_cli("apply", "-f", write(tmp_path, fixed), env=env)
    assert result.returncode == 1
    assert "routes[0].upstream" in result.stderr
    assert "upstreams[0].targets[0].address" in result.stderr
    assert "routes[1].id" in result.stderr


def test_validate_works_offline(tmp_path: Path) -> None:
    offline = {"EDGEWAY_ADMIN_URL": f"http://127.0.0.1:{free_port()}"}
    ok = run_cli("validate", "-f", write(tmp_path, MINIMAL), env=offline)
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout
    bad = run_cli("validate", "-f", write(tmp_path, "routes: [", "broken.yaml"), env=offline)
    assert bad.returncode == 1
    assert "invalid YAML" in bad.stderr
    as_json = run_cli("validate", "-f", write(tmp_path, FIVE_PROBLEMS, "five.yaml"), "-o", "json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["valid"] is False


def test_a_missing_file_is_a_clear_error(env: dict[str, str]) -> None:
    result = run_cli("apply", "-f", "/nonexistent/gateway.yaml", env=env)
    assert result.returncode == 1
    assert "cannot read /nonexistent/gateway.yaml" in result.stderr


def test_an_unreachable_admin_api_is_named_with_the_fix(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("versions", env={"EDGEWAY_ADMIN_URL": url})
    assert result.returncode == 1
    assert f"cannot reach the admin API at {url}" in result.stderr
    assert "EDGEWAY_ADMIN_URL" in result.stderr


def test_deploy_promote_rollback_and_history_from_the_cli(tmp_path: Path,
                                                          env: dict[str, str]) -> None:
    v1 = json.loads(run_cli("apply", "-f", write(tmp_path, with_route("cli-a", "/cli-a")),
                            "-o", "json", env=env).stdout)["version"]
    v2 = json.loads(run_cli("apply", "-f", write(tmp_path, with_route("cli-b", "/cli-b")),
                            "-o", "json", env=env).stdout)["version"]
    assert run_cli("deploy", str(v1), "--stage", "cli-dev", "-m", "one", env=env).returncode == 0
    out = run_cli("deploy", str(v2), "--stage", "cli-dev", env=env)
    assert out.stdout.strip() == f"stage cli-dev: version {v1} -> {v2} (deploy, deployment 2)"
    assert run_cli("promote", "--from", "cli-dev", "--to", "cli-prod", env=env).returncode == 0
    rolled = run_cli("rollback", "--stage", "cli-dev", "-o", "json", env=env)
    assert json.loads(rolled.stdout)["stage"]["version"] == v1
    history = json.loads(run_cli("history", "--stage", "cli-dev", "-o", "json",
                                 env=env).stdout)["deployments"]
    assert [(d["action"], d["version"]) for d in history] == [
        ("rollback", v1), ("deploy", v2), ("deploy", v1)]
    assert history[0]["author"] == "cli-test"
    table = run_cli("history", "--stage", "cli-dev", env=env).stdout
    assert table.splitlines()[0].split()[:3] == ["ID", "ACTION", "VERSION"]
    stages = run_cli("stages", env=env).stdout
    assert "cli-prod" in stages
    diff = run_cli("diff", str(v1), str(v2), env=env)
    assert "+ routes: cli-b" in diff.stdout
    assert "- routes: cli-a" in diff.stdout
    assert run_cli("show", str(v2), env=env).stdout.count("cli-b") >= 1


def test_operator_errors_exit_non_zero_with_the_api_message(env: dict[str, str]) -> None:
    result = run_cli("deploy", "99999", "--stage", "cli-dev", env=env)
    assert result.returncode == 1
    assert "version 99999 not found" in result.stderr
    usage = run_cli("deploy", "abc", "--stage", "x", env=env)
    assert usage.returncode == 2


def test_the_token_is_sent_when_configured(tmp_path: Path, env: dict[str, str]) -> None:
    # The module's control plane has no token; a client token must be harmless there.
    result = run_cli("stages", "--token", "anything", env=env)
    assert result.returncode == 0


def test_controlplane_refuses_a_bad_listen_address() -> None:
    result = run_cli("controlplane", "--etcd", "127.0.0.1:2379", "--admin-listen", "nowhere")
    assert result.returncode == 2
    assert "HOST:PORT" in result.stderr
