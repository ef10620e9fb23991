"""When the bot's jobs run: daily post, inventory refresh, certificate check.

The only importer of apscheduler (3.x). A scheduled post that could not be made
(the bot was stopped, or Mattermost was down) is made once when possible, never
twice: APScheduler coalesces runs missed while the process was up, and the
state file remembers when each posting job last posted, so a restart does not
repeat a post and does not forget one that is still due.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.errors import ChatUnavailable
from bot.settings import ScheduleSettings
from bot.state import load_state, updating_state

log = logging.getLogger(__name__)

DAILY_POST = "daily_post"
REFRESH = "refresh"
CERTIFICATE_CHECK = "certificate_check"
POSTING_JOBS = (DAILY_POST, CERTIFICATE_CHECK)
JOB_NAMES = (DAILY_POST, REFRESH, CERTIFICATE_CHECK)
RETRY_SECONDS = 120.0
# APScheduler 3.x wants a positive grace time; a grace of zero hours in the
# settings means "only on time", which a minute of slack keeps true in practice.
_MIN_GRACE_SECONDS = 60
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class JobScheduler:
    """Runs the bot's jobs on the schedule from settings."""

    def __init__(
        self,
        schedule: ScheduleSettings,
        data_dir: Path,
        jobs: Mapping[str, Callable[[], None]],
        *,
        clock: Callable[[], datetime] = utc_now,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        missing = [name for name in JOB_NAMES if name not in jobs]
        if missing:
            raise ValueError(f"no function given for the jobs {missing}")
        self._schedule = schedule
        self._data_dir = data_dir
        self._jobs = dict(jobs)
        self._clock = clock
        self._retry_seconds = retry_seconds
        self._zone = ZoneInfo(schedule.timezone)
        self._grace = timedelta(hours=schedule.misfire_grace_hours)
        self._triggers = {
            DAILY_POST: cron_trigger(schedule.daily_post, self._zone),
            CERTIFICATE_CHECK: cron_trigger(schedule.certificate_check, self._zone),
        }
        self._scheduler = BackgroundScheduler(
            timezone=self._zone,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": max(
                    _MIN_GRACE_SECONDS, int(self._grace.total_seconds())
                ),
            },
        )

    def start(self) -> None:
        """Add the jobs, start the scheduler, and make posts still due."""
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        for name, trigger in self._triggers.items():
            self._scheduler.add_job(
                self._run_scheduled, trigger, args=[name], id=name, name=name
            )
        self._scheduler.add_job(
            self._execute, IntervalTrigger(minutes=self._schedule.refresh_minutes),
            args=[REFRESH], id=REFRESH, name=REFRESH,
            next_run_time=datetime.now(self._zone),
        )
        self._scheduler.start()
        due = self.due_jobs()
        for name in due:
            # Moving the job's own next run keeps one job per name, so a catch-up
            # and a regular run cannot both happen.
            self._scheduler.modify_job(name, next_run_time=datetime.now(self._zone))
        log.info(
            "Scheduler started (%s): daily post %r, certificate check %r, refresh "
            "every %d min; catching up on %s",
            self._schedule.timezone, self._schedule.daily_post,
            self._schedule.certificate_check, self._schedule.refresh_minutes,
            ", ".join(due) or "nothing",
        )

    def stop(self) -> None:
        """Stop scheduling; a job already running is not waited for."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            log.info("Scheduler stopped")

    def run_now(self, job: str, timeout_seconds: float = 600.0) -> bool:
        """Run ``job`` once now through the scheduler, wait, and tell if it worked.

        Unlike a scheduled run, this does not check whether a post is due.
        """
        if job not in JOB_NAMES:
            raise ValueError(f"unknown job {job!r}; jobs are {', '.join(JOB_NAMES)}")
        if not self._scheduler.running:
            return self._execute(job)
        finished = threading.Event()
        outcome: list[bool] = []

        def once() -> None:
            try:
                outcome.append(self._execute(job))
            finally:
                finished.set()

        self._scheduler.add_job(once, id=f"{job}-now-{uuid.uuid4().hex[:8]}", name=job)
        if not finished.wait(timeout_seconds):
            raise TimeoutError(f"job {job} did not finish within {timeout_seconds} s")
        return bool(outcome and outcome[0])

    def due_jobs(self) -> list[str]:
        """The posting jobs whose latest fire time has not been posted yet.

        A job that never posted is not due: on the first start the bot waits
        for the schedule instead of posting at once.
        """
        state = load_state(self._data_dir)
        return [
            name for name in POSTING_JOBS
            if state.last_posted_at(name) is not None
            and self._due_time(name) is not None
        ]

    def next_run_times(self) -> dict[str, datetime]:
        """When each job runs next, in the schedule's time zone."""
        return {
            job.id: job.next_run_time
            for job in self._scheduler.get_jobs()
            if job.id in JOB_NAMES and job.next_run_time is not None
        }

    def _run_scheduled(self, name: str) -> None:
        if self._due_time(name) is None:
            log.debug("Job %s already posted for its latest fire time", name)
            return
        self._execute(name)

    def _due_time(self, name: str) -> datetime | None:
        """The latest fire time within the grace period, if not posted since."""
        fire_time = latest_fire_time(self._triggers[name], self._clock(), self._grace)
        if fire_time is None:
            return None
        posted_at = load_state(self._data_dir).last_posted_at(name)
        if posted_at is not None and posted_at >= fire_time:
            return None
        return fire_time

    def _execute(self, name: str) -> bool:
        started = time.monotonic()
        log.info("Job %s started", name)
        try:
            self._jobs[name]()
        except ChatUnavailable as exc:
            log.warning(
                "Job %s could not post (%s); trying again in %.0f s",
                name, exc, self._retry_seconds,
            )
            self._schedule_retry(name)
            return False
        except Exception:
            log.exception("Job %s failed", name)
            return False
        if name in POSTING_JOBS:
            with updating_state(self._data_dir) as state:
                state.record_job_posted(name, self._clock())
        log.info("Job %s finished in %.1f s", name, time.monotonic() - started)
        return True

    def _schedule_retry(self, name: str) -> None:
        if name not in POSTING_JOBS or not self._scheduler.running:
            return
        run_at = datetime.now(self._zone) + timedelta(seconds=self._retry_seconds)
        self._scheduler.modify_job(name, next_run_time=run_at)


def cron_trigger(expression: str, zone: ZoneInfo) -> CronTrigger:
    """A trigger for a five-field cron expression, days of week read as cron does."""
    minute, hour, day, month, day_of_week = expression.split()
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month,
        day_of_week=_weekday_names(day_of_week), timezone=zone,
    )


def _weekday_names(field: str) -> str:
    # APScheduler 3.x counts Monday as 0, cron counts Sunday as 0 (and 7), and
    # CronTrigger.from_crontab passes the numbers through, so "1-5" would mean
    # Tuesday to Saturday. Numbers are turned into day names here.
    parts = []
    for part in field.split(","):
        span, _, step = part.partition("/")
        if not (span == "*" and step) and not any(c.isdigit() for c in span):
            parts.append(part)
            continue
        first, _, last = ("0-6" if span == "*" else span).partition("-")
        numbers = range(int(first), int(last or first) + 1, int(step or 1))
        parts += [_DAY_NAMES[number % 7] for number in numbers]
    return ",".join(parts)


def latest_fire_time(
    trigger: CronTrigger, now: datetime, grace: timedelta
) -> datetime | None:
    """The last time ``trigger`` fired at or before ``now``, within ``grace``."""
    moment = trigger.get_next_fire_time(None, now - grace)
    latest = None
    while moment is not None and moment <= now:
        latest = moment
        moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
    return latest
