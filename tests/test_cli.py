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


@pytest.fixture(autouse=True)
def _restore_logging() -> None:
    """cli.main configures logging on the captured stderr; undo that afterwards."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


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


def _settings_file(tmp_path: Path, fleet, extra: str = "", dead: bool = True) -> Path:
    blocks = [f'organization = "Test Collective"\noutput_dir = "{tmp_path / "out"}"\n']
    for host in fleet.host_list:
        block = f'[[hosts]]\nname = "{host.name}"\nurl = "{host.url}"\n'
        if host.has_tls:
            block += (
                f'ca_cert = "{host.ca_cert}"\ncert = "{host.cert}"\n'
                f'key = "{host.key}"\n'
            )
        blocks.append(block)
    if dead:
        blocks.append(
            f'[[hosts]]\nname = "gone"\nurl = "unix://{tmp_path}/gone.sock"\n'
        )
    path = tmp_path / "settings.toml"
    path.write_text("\n".join(blocks) + extra)
    return path


def test_render_fleet_draws_every_host_and_names_the_failed_one(
    tmp_path: Path, fleet
) -> None:
    """One dead host is reported, exits 1, and never stops the others."""
    settings_path = _settings_file(tmp_path, fleet)

    result = graphbot("--settings", str(settings_path), "render", cwd=tmp_path)

    out = tmp_path / "out"
    assert result.returncode == 1, result.stderr
    assert "gone: not collected" in result.stdout
    for host in ("general", "media", "ldap"):
        assert f"{host}: " in result.stdout
        assert png_size(out / f"{host}.png")[0] > 100
        assert (out / f"{host}.svg").is_file()
        assert 'cluster' in (out / f"{host}.dot").read_text()
    fleet_dot = (out / "fleet.dot").read_text()
    assert "Test Collective" in fleet_dot and "gone" in fleet_dot
    assert (out / "legend.png").is_file() and (out / "index.html").is_file()
    snapshot = json.loads((out / "inventory.json").read_text())
    assert sorted(h["host"] for h in snapshot["inventory"]["hosts"]) == [
        "general", "ldap", "media"
    ]
    assert snapshot["inventory"]["failures"][0]["host"] == "gone"


def test_render_only_the_named_host(tmp_path: Path, fleet) -> None:
    settings_path = _settings_file(tmp_path, fleet)

    result = graphbot(
        "--settings", str(settings_path), "render", "--host", "media", cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    snapshot = json.loads((tmp_path / "out" / "inventory.json").read_text())
    assert [h["host"] for h in snapshot["inventory"]["hosts"]] == ["media"]


def test_hidden_and_excluded_things_are_in_no_output_file(
    tmp_path: Path, fleet
) -> None:
    """What hide and exclude remove appears in no PNG, SVG, DOT, JSON or page."""
    from tests.conftest import LONG_VOLUME, SECRET

    hide = "\n[hide]\nurls = true\nvolumes = true\nbinds = true\nports = true\n"
    settings_path = _settings_file(tmp_path, fleet, extra=hide, dead=False)
    text = settings_path.read_text().replace(
        'name = "general"\n', 'name = "general"\nexclude = ["host-*"]\n'
    )
    settings_path.write_text(text)

    result = graphbot("--settings", str(settings_path), "render", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    forbidden = [
        "pad.example.org", "tv.example.org", LONG_VOLUME, "pgdata", "host-agent",
        fleet.facts["bind_source"], f':{fleet.facts["cloud_port"]}',
        f':{fleet.facts["ldap_port"]}', SECRET,
    ]
    legend = (tmp_path / "out" / "legend.svg").read_text()
    assert "not shown by choice" in legend
    files = [p for p in (tmp_path / "out").iterdir() if p.is_file()]
    assert len(files) > 10
    for path in files:
        content = path.read_bytes()
        for word in forbidden:
            assert word.encode() not in content, f"{word} leaked into {path.name}"


def test_pictures_of_a_host_no_longer_drawn_are_removed(no_engine: Path) -> None:
    """A redraw without a host removes its old pictures, and nothing of the user's."""
    cli.main(["render"])
    output = no_engine / "output"
    keep = output / "notes.txt"
    keep.write_text("mine")
    snapshot = json.loads((output / "inventory.json").read_text())
    snapshot["inventory"]["hosts"] = [
        h for h in snapshot["inventory"]["hosts"] if h["host"] != "media"
    ]
    smaller = no_engine / "smaller.json"
    smaller.write_text(json.dumps(snapshot))

    assert cli.main(["render", "--from", str(smaller)]) == 0

    assert not (output / "media.png").exists()
    assert not (output / "media.svg").exists()
    assert (output / "alpha.png").is_file()
    assert keep.read_text() == "mine"


@pytest.mark.parametrize("where", ["a-file", "a-file/below"])
def test_output_folder_that_cannot_be_made_exits_2(tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("in the way")

    nowhere = {"DOCKER_HOST": f"unix://{tmp_path}/no-engine.sock"}

    result = graphbot("--output", where, "render", cwd=tmp_path, env=nowhere)

    assert result.returncode == 2
    assert "output folder" in result.stderr and "--output" in result.stderr
    assert "Traceback" not in result.stderr


def test_options_work_after_the_command_name_too(no_engine: Path) -> None:
    """People type "graphbot render --output x" as often as the other order."""
    status = cli.main(["render", "--output", "after"])

    assert status == 0
    assert (no_engine / "after" / "fleet.png").is_file()


def test_a_bug_is_reported_once_with_its_traceback_and_exit_70(
    no_engine: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """An unexpected failure is not dressed up as bad input."""
    from bot import pipeline

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("renderer exploded")

    monkeypatch.setattr(pipeline, "publish", broken)

    status = cli.main(["render"])

    err = capsys.readouterr().err
    assert status == 70
    assert err.count("Traceback") == 1 and "renderer exploded" in err
    assert "a bug in graphbot" in err


def test_snapshot_without_hosts_says_there_is_nothing_to_draw(tmp_path: Path) -> None:
    (tmp_path / "empty.json").write_text(
        '{"collected_at": "2026-12-04T08:00:00Z", "inventory": {"hosts": []}}'
    )

    result = graphbot("render", "--from", "empty.json", cwd=tmp_path)

    assert result.returncode == 2
    assert "names no host, so there is nothing to draw" in result.stderr
