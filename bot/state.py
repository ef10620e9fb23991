"""What survives restarts: last snapshot, last success per host, warnings sent.

The state is one small JSON file, ``state.json`` under the data directory. A
JSON file rather than SQLite because one bot process writes a few kilobytes a
day, people read it when asking "why was this warning (not) posted?", and an
atomic rename (temporary file, fsync, ``os.replace``) already gives
all-or-nothing writes. ``updating_state`` holds an advisory lock around
read-modify-write, so a ``graphbot`` command run beside the bot cannot undo
what the bot recorded.

A lost or corrupt file is never fatal: graphbot starts from an empty state,
which costs at most one repeated warning per certificate. A corrupt file is
kept aside for inspection.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
LOCK_FILE = "state.lock"
# A certificate warning older than this is forgotten; by then the certificate
# it was about has long been renewed or has expired and been announced.
_KEEP_SENT_WARNINGS = timedelta(days=800)


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class HostRecord(_Record):
    """What is known about one host's collections."""

    first_seen_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error: str = ""  # a sentence for people, never a secret
    last_error_at: datetime | None = None


class SentCertificateWarning(_Record):
    """One certificate warning that was posted."""

    fingerprint: str
    threshold_days: int  # 0 stands for "expired"
    host: str = ""
    kind: str = ""
    sent_at: datetime


class State(_Record):
    """Everything graphbot remembers between runs."""

    version: int = 1
    last_snapshot_path: str = ""
    last_snapshot_at: datetime | None = None
    hosts: dict[str, HostRecord] = Field(default_factory=dict)
    certificate_warnings: list[SentCertificateWarning] = Field(default_factory=list)
    stale_announced_on: dict[str, date] = Field(default_factory=dict)
    job_posted_at: dict[str, datetime] = Field(default_factory=dict)

    def record_snapshot(self, path: Path, at: datetime) -> None:
        """Remember where the latest snapshot was saved and when."""
        self.last_snapshot_path = str(path)
        self.last_snapshot_at = at

    def record_success(self, host: str, at: datetime) -> None:
        """Remember that ``host`` was collected at ``at``."""
        record = self._host(host, at)
        record.last_success_at = at

    def record_failure(self, host: str, reason: str, at: datetime) -> None:
        """Remember why ``host`` could not be collected at ``at``."""
        record = self._host(host, at)
        record.last_error = reason
        record.last_error_at = at

    def record_job_posted(self, job: str, at: datetime) -> None:
        """Remember that the scheduled ``job`` posted at ``at``."""
        self.job_posted_at[job] = at

    def last_posted_at(self, job: str) -> datetime | None:
        """When the scheduled ``job`` last posted, if ever."""
        return self.job_posted_at.get(job)

    def has_sent_certificate_warning(
        self, fingerprint: str, threshold_days: int
    ) -> bool:
        """Tell whether this threshold was already announced for this certificate."""
        return any(
            sent.fingerprint == fingerprint and sent.threshold_days == threshold_days
            for sent in self.certificate_warnings
        )

    def record_certificate_warning(
        self, fingerprint: str, threshold_days: int, *, host: str, kind: str,
        at: datetime,
    ) -> None:
        """Remember that a threshold was announced for a certificate."""
        if self.has_sent_certificate_warning(fingerprint, threshold_days):
            return
        self.certificate_warnings = [
            sent for sent in self.certificate_warnings
            if at - sent.sent_at < _KEEP_SENT_WARNINGS
        ]
        self.certificate_warnings.append(
            SentCertificateWarning(
                fingerprint=fingerprint, threshold_days=threshold_days,
                host=host, kind=kind, sent_at=at,
            )
        )

    def last_success_by_host(self) -> dict[str, datetime | None]:
        """When each known host was last collected, None if never."""
        return {name: record.last_success_at for name, record in self.hosts.items()}

    def last_error_by_host(self) -> dict[str, str]:
        """The last failure reason of each known host, "" if none."""
        return {name: record.last_error for name, record in self.hosts.items()}

    def _host(self, host: str, at: datetime) -> HostRecord:
        record = self.hosts.setdefault(host, HostRecord())
        if record.first_seen_at is None:
            record.first_seen_at = at
        return record


def state_path(data_dir: Path) -> Path:
    """Where the state file of ``data_dir`` lives."""
    return data_dir / STATE_FILE


def load_state(data_dir: Path) -> State:
    """Read the state, or start fresh when it is missing, unreadable or corrupt."""
    path = state_path(data_dir)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        log.debug("No state file at %s yet; starting with an empty state", path)
        return State()
    except OSError as exc:
        log.warning(
            "The state file %s cannot be read (%s); starting with an empty state, "
            "so a certificate warning may be posted once more. Check its "
            "permissions.", path, exc.strerror,
        )
        return State()
    try:
        return State.model_validate(json.loads(data.decode("utf-8")))
    except (ValueError, ValidationError):  # bad UTF-8 and bad JSON are ValueErrors
        aside = _set_aside(path)
        log.warning(
            "The state file %s is corrupt; it was moved to %s and graphbot starts "
            "with an empty state, so a certificate warning may be posted once more.",
            path, aside,
        )
        return State()


def save_state(state: State, data_dir: Path) -> bool:
    """Write the state atomically; return False (and log why) when that fails."""
    path = state_path(data_dir)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        _write_atomically(path, state.model_dump_json(indent=2) + "\n")
    except OSError as exc:
        log.warning(
            "The state file %s could not be written (%s); warnings already posted "
            "may be posted again. Check that data_dir is writable.",
            path, exc.strerror,
        )
        return False
    log.debug("State saved to %s", path)
    return True


@contextmanager
def updating_state(data_dir: Path) -> Iterator[State]:
    """Load the state under a lock, let the caller change it, and save it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / LOCK_FILE, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            state = load_state(data_dir)
            yield state
            save_state(state, data_dir)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    # Without this the rename itself may be lost in a power cut.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _set_aside(path: Path) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        os.replace(path, aside)
    except OSError as exc:
        log.warning(
            "The corrupt state file could not be moved aside (%s)", exc.strerror
        )
        return path
    return aside
