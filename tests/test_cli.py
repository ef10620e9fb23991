"""The graphbot command as a user runs it: exit codes, messages, files written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot import cli, settings

REPO = Path(__file__).resolve().parent.parent


def graphbot(*args: str, cwd: Path, env: dict[str, str] | None = None):
    """Run the installed command in a subprocess, as a user would."""
    environment = {
        k: v for k, v in os.environ.items()
        if not k.startswith("GRAPHBOT_") and k != "DOCKER_HOST"
    }
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=300,
    )


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


@pytest.fixture
def no_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the default engine location at a socket nobody listens on."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("GRAPHBOT_SETTINGS", raising=False)
    missing = tmp_path / "no-engine" / "docker.sock"
    monkeypatch.setattr(settings, "DEFAULT_SOCKET_URL", f"unix://{missing}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_render_without_engine_or_settings_draws_the_sample(
    no_engine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A newcomer with no engine still sees what graphbot makes, marked as sample."""
    status = cli.main(["render"])

    err = capsys.readouterr().err
    assert status == 0
    assert "no Docker engine answers" in err and "DOCKER_HOST" in err
    snapshot = json.loads((no_engine / "output" / "inventory.json").read_text())
    assert snapshot["inventory"]["is_sample"] is True
    assert len(snapshot["inventory"]["hosts"]) == 5
    assert "sample" in (no_engine / "output" / "fleet.dot").read_text().lower()
    assert png_size(no_engine / "output" / "fleet.png")[0] > 100


def test_render_with_docker_host_that_does_not_answer_fails(
    no_engine: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Naming an engine means hearing that it is down, never getting the sample."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{no_engine}/elsewhere.sock")

    status = cli.main(["render"])

    out = capsys.readouterr().out
    assert status == 1
    assert 'local: not collected' in out
    snapshot = json.loads((no_engine / "output" / "inventory.json").read_text())
    assert snapshot["inventory"]["is_sample"] is False
    assert snapshot["inventory"]["failures"][0]["host"] == "local"


def test_invalid_settings_exit_2_with_one_message(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[[hosts]]\nname = "a"\nurl = "nope"\n')

    result = graphbot("--settings", "bad.toml", "render", cwd=tmp_path)

    assert result.returncode == 2
    assert "hosts[0].url" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unknown_host_option_names_the_known_hosts(tmp_path: Path) -> None:
    result = graphbot(
        "--settings", str(REPO / "settings.toml"), "render", "--host", "mars",
        cwd=tmp_path,
    )

    assert result.returncode == 2
    assert "known hosts are local" in result.stderr


def test_render_from_snapshot_needs_no_engine(no_engine: Path, capsys) -> None:
    cli.main(["render"])
    saved = no_engine / "saved.json"
    (no_engine / "output" / "inventory.json").rename(saved)

    status = cli.main(["--output", "redrawn", "render", "--from", str(saved)])

    assert status == 0
    assert (no_engine / "redrawn" / "fleet.svg").is_file()
    assert json.loads((no_engine / "redrawn" / "inventory.json").read_text()) == (
        json.loads(saved.read_text())
    )


def test_render_from_a_file_that_is_no_snapshot_says_so(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"hello": 1}')

    result = graphbot("render", "--from", "x.json", cwd=tmp_path)

    assert result.returncode == 2
    assert "is not a graphbot snapshot" in result.stderr
    assert "Traceback" not in result.stderr
