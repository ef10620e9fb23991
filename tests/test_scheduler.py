"""The schedule: when jobs fire, catching up once, retrying while chat is down."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.errors import ChatUnavailable
from bot.scheduler import (
    CERTIFICATE_CHECK,
    DAILY_POST,
    REFRESH,
    JobScheduler,
    cron_trigger,
    latest_fire_time,
)
from bot.settings import ScheduleSettings
from bot.state import load_state, updating_state

BERLIN = ZoneInfo("Europe/Berlin")
WAIT_SECONDS = 10


class Recorder:
    """Job functions that count their calls and can fail on demand."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {DAILY_POST: 0, REFRESH: 0, CERTIFICATE_CHECK: 0}
        self.failures: dict[str, list[Exception]] = {name: [] for name in self.calls}
        self.events = {name: threading.Event() for name in self.calls}
        self.lock = threading.Lock()

    def jobs(self) -> dict[str, Callable[[], None]]:
        return {name: self._job(name) for name in self.calls}

    def _job(self, name: str) -> Callable[[], None]:
        def run() -> None:
            with self.lock:
                self.calls[name] += 1
            self.events[name].set()
            if self.failures[name]:
                raise self.failures[name].pop(0)

        return run


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def schedulers() -> Iterator[list[JobScheduler]]:
    started: list[JobScheduler] = []
    yield started
    for scheduler in started:
        scheduler.stop()


def _scheduler(
    recorder: Recorder, data_dir: Path, now: datetime, started: list[JobScheduler],
    **schedule: object,
) -> JobScheduler:
    settings = ScheduleSettings(timezone="Europe/Berlin", **schedule)
    scheduler = JobScheduler(
        settings, data_dir, recorder.jobs(), clock=lambda: now, retry_seconds=0.05
    )
    started.append(scheduler)
    return scheduler


def _wait_for_post(data_dir: Path, job: str, at: datetime) -> datetime | None:
    """Wait until the state records a post of ``job`` at ``at``; return the record."""
    posted_at = None
    for _ in range(WAIT_SECONDS * 20):
        posted_at = load_state(data_dir).last_posted_at(job)
        if posted_at == at:
            return posted_at
        time.sleep(0.05)
    return posted_at


def _record_posted(data_dir: Path, job: str, at: datetime) -> None:
    with updating_state(data_dir) as state:
        state.record_job_posted(job, at)


@pytest.mark.parametrize(
    ("cron_days", "weekdays"),
    [("1-5", {0, 1, 2, 3, 4}), ("0", {6}), ("7", {6}), ("sat,sun", {5, 6}),
     ("*/3", {6, 2, 5}), ("5-7", {4, 5, 6})],
)
def test_day_of_week_is_read_as_cron_reads_it(
    cron_days: str, weekdays: set[int]
) -> None:
    """Cron counts Sunday as 0 or 7, and 1-5 is Monday to Friday."""
    trigger = cron_trigger(f"0 8 * * {cron_days}", BERLIN)
    moment = datetime(2025, 3, 10, 0, 0, tzinfo=BERLIN)  # a Monday

    seen = set()
    for _ in range(7):
        moment = trigger.get_next_fire_time(None, moment)
        seen.add(moment.weekday())
        moment += timedelta(hours=1)

    assert seen == weekdays


def test_daily_post_fires_at_the_configured_time_and_zone(
    recorder: Recorder, tmp_path: Path, schedulers: list[JobScheduler]
) -> None:
    nothing_due = datetime(2025, 3, 12, 3, 0, tzinfo=BERLIN)
    scheduler = _scheduler(recorder, tmp_path, nothing_due, schedulers,
                           daily_post="15 9 * * 1-5")

    scheduler.start()

    next_post = scheduler.next_run_times()[DAILY_POST].astimezone(BERLIN)
    assert (next_post.hour, next_post.minute) == (9, 15)
    assert next_post.weekday() < 5


def test_post_missed_while_stopped_is_made_once_and_not_again_after_restart(
    recorder: Recorder, tmp_path: Path, schedulers: list[JobScheduler]
) -> None:
    """08:00 passed while the bot was down: it posts at start; a restart does not."""
    now = datetime(2025, 3, 12, 8, 30, tzinfo=BERLIN)
    _record_posted(tmp_path, DAILY_POST, now - timedelta(days=1))
    _record_posted(tmp_path, CERTIFICATE_CHECK, now)
    first = _scheduler(recorder, tmp_path, now, schedulers)

    first.start()

    assert _wait_for_post(tmp_path, DAILY_POST, now) == now
    first.stop()
    second = _scheduler(recorder, tmp_path, now + timedelta(minutes=5), schedulers)
    assert second.due_jobs() == []
    second.start()
    assert second.run_now(REFRESH)
    assert recorder.calls[DAILY_POST] == 1
    assert recorder.calls[CERTIFICATE_CHECK] == 0


def test_first_start_waits_for_the_schedule_instead_of_posting_at_once(
    recorder: Recorder, tmp_path: Path, schedulers: list[JobScheduler]
) -> None:
    """A bot started for the first time at 08:30 does not post the 08:00 post."""
    now = datetime(2025, 3, 12, 8, 30, tzinfo=BERLIN)
    scheduler = _scheduler(recorder, tmp_path, now, schedulers)

    assert scheduler.due_jobs() == []
    scheduler.start()
    assert scheduler.run_now(REFRESH)

    assert recorder.calls[DAILY_POST] == 0


def test_post_missed_beyond_grace_period_is_not_made(
    recorder: Recorder, tmp_path: Path, schedulers: list[JobScheduler]
) -> None:
    now = datetime(2025, 3, 12, 21, 0, tzinfo=BERLIN)
    _record_posted(tmp_path, DAILY_POST, now - timedelta(days=1))
    _record_posted(tmp_path, CERTIFICATE_CHECK, now - timedelta(days=1))
    scheduler = _scheduler(recorder, tmp_path, now, schedulers,
                           certificate_check="0 20 * * *", misfire_grace_hours=12)

    assert scheduler.due_jobs() == [CERTIFICATE_CHECK]


def test_post_refused_by_chat_is_retried_until_it_is_made_once(
    recorder: Recorder, tmp_path: Path, schedulers: list[JobScheduler]
) -> None:
    """Mattermost down at 08:00: the post is made when it is back, exactly once."""
    now = datetime(2025, 3, 12, 8, 0, 30, tzinfo=BERLIN)
    _record_posted(tmp_path, DAILY_POST, now - timedelta(days=1))
    _record_posted(tmp_path, CERTIFICATE_CHECK, now)
    recorder.failures[DAILY_POST] = [ChatUnavailable("down"), ChatUnavailable("down")]
    scheduler = _scheduler(recorder, tmp_path, now, schedulers)

    scheduler.start()

    assert _wait_for_post(tmp_path, DAILY_POST, now) == now
    assert recorder.calls[DAILY_POST] == 3
    assert scheduler.due_jobs() == []


def test_run_now_posts_even_when_nothing_is_due_and_records_it(
    recorder: Recorder, tmp_path: Path, schedulers: list[JobScheduler]
) -> None:
    now = datetime(2025, 3, 12, 3, 0, tzinfo=BERLIN)
    scheduler = _scheduler(recorder, tmp_path, now, schedulers)
    scheduler.start()

    assert scheduler.run_now(DAILY_POST)

    assert recorder.calls[DAILY_POST] == 1
    assert load_state(tmp_path).last_posted_at(DAILY_POST) == now


def test_failing_job_is_logged_with_traceback_once_and_reported(
    recorder: Recorder, tmp_path: Path, schedulers: list[JobScheduler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder.failures[CERTIFICATE_CHECK] = [RuntimeError("bug")]
    nothing_due = datetime(2025, 3, 12, 3, 0, tzinfo=BERLIN)
    scheduler = _scheduler(recorder, tmp_path, nothing_due, schedulers)
    scheduler.start()

    with caplog.at_level(logging.INFO):
        assert not scheduler.run_now(CERTIFICATE_CHECK)

    failures = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(failures) == 1
    assert failures[0].exc_info is not None
    assert load_state(tmp_path).last_posted_at(CERTIFICATE_CHECK) is None


def test_scheduler_keeps_apscheduler_quiet(
    recorder: Recorder, tmp_path: Path, schedulers: list[JobScheduler]
) -> None:
    logging.getLogger("apscheduler").setLevel(logging.NOTSET)
    scheduler = _scheduler(recorder, tmp_path, datetime.now(BERLIN), schedulers)

    scheduler.start()

    assert logging.getLogger("apscheduler").level == logging.WARNING


def test_latest_fire_time_respects_zone_and_grace() -> None:
    trigger = cron_trigger("0 8 * * *", BERLIN)
    now = datetime(2025, 3, 12, 9, 0, tzinfo=BERLIN)

    assert latest_fire_time(trigger, now, timedelta(hours=2)) == datetime(
        2025, 3, 12, 8, 0, tzinfo=BERLIN
    )
    assert latest_fire_time(trigger, now, timedelta(minutes=30)) is None
