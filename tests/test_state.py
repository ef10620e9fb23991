"""The durable state: survives restarts, and a lost or corrupt file is no crash."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from bot.state import (
    State,
    load_state,
    save_state,
    state_path,
    updating_state,
)

NOW = datetime(2026, 12, 4, 7, 30, tzinfo=timezone.utc)


def _filled_state() -> State:
    state = State()
    state.record_snapshot(Path("output/inventory.json"), NOW)
    state.record_success("media", NOW)
    state.record_failure("mail", 'Host "mail" was not collected: it timed out.', NOW)
    state.record_certificate_warning("ab" * 32, 7, host="media", kind="client", at=NOW)
    state.stale_announced_on["mail"] = NOW.date()
    state.record_job_posted("daily_post", NOW)
    return state


def test_everything_recorded_is_there_after_a_restart(tmp_path: Path) -> None:
    """Saving and loading again (a restart) keeps every field."""
    state = _filled_state()

    assert save_state(state, tmp_path)
    reloaded = load_state(tmp_path)

    assert reloaded == state
    assert reloaded.has_sent_certificate_warning("ab" * 32, 7)
    assert not reloaded.has_sent_certificate_warning("ab" * 32, 3)
    assert reloaded.last_posted_at("daily_post") == NOW
    assert reloaded.last_posted_at("certificate_check") is None
    assert reloaded.last_success_by_host() == {"media": NOW, "mail": None}
    assert reloaded.last_error_by_host()["mail"].endswith("it timed out.")
    assert reloaded.stale_announced_on == {"mail": date(2026, 12, 4)}
    assert reloaded.last_snapshot_path == "output/inventory.json"


def test_missing_state_file_gives_an_empty_state(tmp_path: Path) -> None:
    assert load_state(tmp_path / "never-created") == State()


@pytest.mark.parametrize(
    "content",
    [b"{ this is not json", b"\xff\xfe\x00garbage", b'["a list"]',
     b'{"hosts": {"media": {"last_success_at": "yesterday"}}}', b""],
    ids=["truncated-json", "binary", "wrong-shape", "bad-date", "empty"],
)
def test_corrupt_state_file_is_set_aside_and_replaced_by_an_empty_state(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """A corrupt file logs a WARNING, is kept aside, and never crashes graphbot."""
    state_path(tmp_path).write_bytes(content)

    with caplog.at_level(logging.WARNING, logger="bot.state"):
        state = load_state(tmp_path)

    assert state == State()
    aside = list(tmp_path.glob("state.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == content
    assert not state_path(tmp_path).exists()
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_state_written_after_corruption_loads_cleanly(tmp_path: Path) -> None:
    state_path(tmp_path).write_text("{{{")
    state = load_state(tmp_path)
    state.record_success("media", NOW)

    save_state(state, tmp_path)

    assert load_state(tmp_path).last_success_by_host() == {"media": NOW}


def test_save_leaves_only_the_state_file_behind(tmp_path: Path) -> None:
    """The write goes through a temporary file that is renamed into place."""
    save_state(_filled_state(), tmp_path / "data")
    save_state(State(), tmp_path / "data")

    assert [p.name for p in (tmp_path / "data").iterdir()] == ["state.json"]
    assert json.loads(state_path(tmp_path / "data").read_text())["hosts"] == {}


def test_unwritable_data_dir_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data directory should be")

    with caplog.at_level(logging.WARNING, logger="bot.state"):
        saved = save_state(_filled_state(), blocker)

    assert saved is False
    assert "data_dir is writable" in caplog.text


def test_updating_state_saves_what_the_block_changed(tmp_path: Path) -> None:
    with updating_state(tmp_path) as state:
        state.record_job_posted("daily_post", NOW)

    with updating_state(tmp_path) as state:
        state.record_success("media", NOW)

    reloaded = load_state(tmp_path)
    assert reloaded.last_posted_at("daily_post") == NOW
    assert reloaded.last_success_by_host() == {"media": NOW}


def test_updating_state_saves_nothing_when_the_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with updating_state(tmp_path) as state:
            state.record_job_posted("daily_post", NOW)
            raise RuntimeError("posting failed")

    assert load_state(tmp_path).last_posted_at("daily_post") is None


def test_first_seen_is_kept_across_later_records() -> None:
    """The first attempt is remembered, so a never-collected host can go stale."""
    state = State()
    later = datetime(2026, 12, 6, tzinfo=timezone.utc)

    state.record_failure("mail", "refused", NOW)
    state.record_failure("mail", "refused again", later)

    assert state.hosts["mail"].first_seen_at == NOW
    assert state.hosts["mail"].last_error_at == later
    assert state.hosts["mail"].last_error == "refused again"


def test_same_certificate_warning_is_recorded_once() -> None:
    state = State()

    for _ in range(3):
        state.record_certificate_warning("cd" * 32, 3, host="a", kind="ca", at=NOW)

    assert len(state.certificate_warnings) == 1
