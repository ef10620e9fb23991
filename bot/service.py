"""``graphbot run``: the chat client, the schedule and the commands, wired together.

Answers mentions and direct messages in their thread, makes the daily post,
keeps the inventory for ``where`` fresh, posts certificate and stale-host
alerts, and stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import alerts, pipeline
from bot.certificates import check_certificates
from bot.commands import Asker, Command, Knowledge, Reply, answer, parse
from bot.errors import GraphbotError, InvalidSettings, UnknownCommand
from bot.last_collected import LastCollected, StandIn
from bot.mattermost import ChatClient, IncomingMessage
from bot.model import Inventory, Snapshot
from bot.pipeline import RenderResult
from bot.privacy import apply_privacy
from bot.renders import SharedRender, joined_text, pictures
from bot.scheduler import CERTIFICATE_CHECK, DAILY_POST, REFRESH, JobScheduler
from bot.settings import Settings
from bot.state import State, load_state, updating_state
from renderers.certificates import certificate_table
from renderers.text import HostStatus, render_summary

log = logging.getLogger(__name__)

class Service:
    """The running bot: answers commands and runs the scheduled jobs."""

    def __init__(
        self,
        settings: Settings,
        chat: ChatClient,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.chat = chat
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._zone = ZoneInfo(settings.schedule.timezone)
        self._latest: Snapshot | None = _saved_snapshot(settings.output_dir)
        self._latest_lock = threading.Lock()
        self._last_collected = LastCollected(settings.data_dir, self._latest)
        # Two checks at once would both find a warning unsent and post it twice.
        self._check_lock = threading.Lock()
        self._channel_names_by_id: dict[str, str] = {}
        self.renders = SharedRender(self.render)
        self.scheduler = JobScheduler(
            settings.schedule,
            settings.data_dir,
            {
                DAILY_POST: self.daily_post,
                REFRESH: self.refresh,
                CERTIFICATE_CHECK: self.certificate_check,
            },
            clock=self._clock,
        )

    def start(self) -> None:
        """Connect to Mattermost, listen, and start the schedule.

        Raises:
            ChatUnavailable: the server cannot be reached or refuses the bot.
        """
        self.chat.connect()
        self._channel_names_by_id = self._allowed_channel_ids()
        self.chat.listen(self.handle)
        caught_up = self.scheduler.due_jobs()
        self.scheduler.start()
        if CERTIFICATE_CHECK not in caught_up:
            self._check_in_background()
        schedule = self.settings.schedule
        log.info(
            "graphbot is running for %s: hosts %s; posting to ~%s at %s; daily "
            "post '%s' and certificate check '%s' (%s); refresh every %d min",
            self.settings.organization,
            ", ".join(host.name for host in self.settings.hosts),
            self.settings.mattermost.channel, self.chat.address.url,
            schedule.daily_post, schedule.certificate_check, schedule.timezone,
            schedule.refresh_minutes,
        )

    @property
    def latest(self) -> Snapshot | None:
        """The inventory where-answers come from, filtered for publication."""
        with self._latest_lock:
            return self._latest

    def stop(self) -> None:
        """Stop the schedule and the chat connection."""
        self.scheduler.stop()
        self.chat.close()
        log.info("graphbot stopped")

    # Commands

    def handle(self, message: IncomingMessage) -> None:
        """Answer one message addressed to the bot, in its thread."""
        if message.user_id == self.chat.bot_user_id:
            return
        started = time.monotonic()
        name = "unknown"
        try:
            command = parse(message.text, self.chat.bot_user_name or "graphbot")
            name = command.name
            self._send(message, self._answer(command, message))
        except UnknownCommand as exc:
            self._reply(message, str(exc))
        except GraphbotError as exc:
            log.warning("Command %s for @%s failed: %s", name, message.user_name, exc)
            self._reply_safely(message, str(exc))
        except Exception:
            log.exception("Command %s for @%s failed", name, message.user_name)
            self._reply_safely(
                message,
                f"Sorry, `{name}` failed on my side; the details are in the bot's "
                "log. Try again, or ask whoever runs graphbot.",
            )
        log.info(
            "Command %s for @%s answered in %.1f s",
            name, message.user_name, time.monotonic() - started,
        )

    def _answer(self, command: Command, message: IncomingMessage) -> Reply:
        snapshot, stand_ins = self._where_snapshot()
        knowledge = Knowledge(
            settings=self.settings,
            snapshot=snapshot,
            now=self._clock(),
            load_statuses=self.host_statuses,
            load_certificates=self.certificate_answer,
            bot_name=self.chat.bot_user_name or "graphbot",
            stand_ins=tuple(stand_ins),
        )
        return answer(command, self._asker(message), knowledge)

    def _where_snapshot(self) -> tuple[Snapshot | None, list[StandIn]]:
        # A host that fails now is searched as it was when last collected, so
        # that what ran there a minute ago can still be found.
        latest = self.latest
        if latest is None:
            return None, []
        return self._last_collected.fill_in(latest)

    def _send(self, message: IncomingMessage, reply: Reply) -> None:
        asked = reply.wants_render
        text = reply.text
        if asked is not None:
            running = self.renders.covering(asked or None)
            text = text if running is None else joined_text(asked, running)
        self._reply(message, text, reply.files)
        if asked is not None:
            result = self.renders.run(asked or None)
            self._reply(message, self._result_text(result), pictures(result))

    def _reply(
        self, message: IncomingMessage, text: str, files: Sequence[Path] = ()
    ) -> None:
        self.chat.post(message.channel_id, text, files, root_id=message.thread_id)

    def _reply_safely(self, message: IncomingMessage, text: str) -> None:
        try:
            self._reply(message, text)
        except GraphbotError as exc:
            log.warning(
                "The answer to %s could not be posted: %s", message.post_id, exc
            )

    def _asker(self, message: IncomingMessage) -> Asker:
        return Asker(
            user_name=message.user_name,
            user_id=message.user_id,
            channel_id=message.channel_id,
            channel_name=self._channel_names_by_id.get(message.channel_id, ""),
            is_direct=message.is_direct,
        )

    def host_statuses(self) -> list[HostStatus]:
        """Each configured host with its last success and last error, from state."""
        records = load_state(self.settings.data_dir).hosts
        statuses = []
        for host in self.settings.hosts:
            record = records.get(host.name)
            if record is None:
                statuses.append(HostStatus(host.name))
                continue
            statuses.append(
                HostStatus(
                    host.name, record.last_success_at, record.last_error,
                    record.last_error_at,
                )
            )
        return statuses

    def certificate_answer(self) -> str:
        """The certificate table for the ``certs`` command."""
        warn_days = self.settings.certificates.warn_days
        statuses = check_certificates(
            self.settings.hosts, warn_within_days=max(warn_days)
        )
        return certificate_table(statuses, zone=self._zone)

    # Jobs

    def daily_post(self) -> None:
        """Collect, render and post the summary with every picture to the channel."""
        result = self.renders.run(None)
        attached = pictures(result)
        self.chat.post(self.chat.channel_id, self._result_text(result), attached)
        log.info("Daily post made with %d pictures", len(attached))

    def refresh(self) -> None:
        """Collect the fleet for ``where``; nothing is drawn or posted."""
        snapshot = pipeline.collect_snapshot(self.settings)
        self._remember(snapshot)

    def certificate_check(self) -> None:
        """Post certificate warnings and stale-host alerts not yet announced."""
        with self._check_lock:
            self._check_certificates_and_hosts()

    def _check_in_background(self) -> None:
        # Without this, a certificate already inside a threshold at the first
        # start would be announced only at the next scheduled check, often the
        # next day. Warnings are recorded as sent, so a restart repeats none.
        def check() -> None:
            try:
                self.certificate_check()
            except GraphbotError as exc:
                log.warning("The certificate check at start did not finish: %s", exc)
            except Exception:
                log.exception("The certificate check at start failed")

        threading.Thread(target=check, name="startup-check", daemon=True).start()

    def _check_certificates_and_hosts(self) -> None:
        # After the bot itself was down, every host's last success in the state
        # is old; collecting first keeps that from being announced as stale hosts.
        self.refresh()
        now = self._clock()
        settings = self.settings.certificates
        statuses = check_certificates(
            self.settings.hosts, now=now, warn_within_days=max(settings.warn_days)
        )
        state = load_state(self.settings.data_dir)
        found = alerts.certificate_warnings(
            statuses, settings.warn_days, state, self._zone
        )
        found += self._stale_alerts(state, now)
        posted = []
        try:
            for alert in found:
                self.chat.post(self.chat.channel_id, alert.text)
                posted.append(alert)
                log.info("Posted a %s alert about %s", alert.kind, alert.host)
        finally:
            with updating_state(self.settings.data_dir) as fresh:
                alerts.record_sent(fresh, posted, now)

    def _stale_alerts(self, state: State, now: datetime) -> list[alerts.Alert]:
        # The state keeps hosts that were removed from the settings; they are
        # not the fleet any more, so they are never announced.
        configured = {host.name for host in self.settings.hosts}
        last_success_by_host = {
            host: at for host, at in state.last_success_by_host().items()
            if host in configured
        }
        last_error_by_host = {
            host: error for host, error in state.last_error_by_host().items()
            if host in configured
        }
        stale_after = timedelta(hours=self.settings.certificates.stale_after_hours)
        return alerts.stale_hosts(
            last_success_by_host, last_error_by_host, now, stale_after, state,
            self._zone,
        )

    # Rendering

    def render(self, hosts: list[str] | None) -> RenderResult:
        """Collect ``hosts`` (None: the fleet) and write their pictures."""
        snapshot = pipeline.collect_snapshot(self.settings, hosts)
        self._remember(snapshot)
        if hosts is None:
            return pipeline.publish(snapshot, self.settings)
        # A render of some hosts must not replace the fleet's published files.
        folder = self.settings.data_dir / "render-now"
        settings = self.settings.model_copy(update={"output_dir": folder})
        # A fleet picture would hold only the hosts asked for, whose own
        # pictures already show them, so none is drawn.
        return pipeline.publish(snapshot, settings, draw_fleet=False)

    def _remember(self, snapshot: Snapshot) -> None:
        inventory = snapshot.inventory
        public = apply_privacy(inventory, self.settings.hosts, self.settings.hide)
        with self._latest_lock:
            if self._latest is None or _covers(public, self._latest):
                self._latest = snapshot.model_copy(update={"inventory": public})
        self._last_collected.remember(public)
        with updating_state(self.settings.data_dir) as state:
            for host in inventory.hosts:
                state.record_success(host.host, host.collected_at)
            for failure in inventory.failures:
                state.record_failure(failure.host, failure.reason, failure.failed_at)

    def _result_text(self, result: RenderResult) -> str:
        text = render_summary(result.snapshot, self._zone)
        notes = [f"- Picture not drawn: {problem}" for problem in result.problems]
        return "\n\n".join([text, "\n".join(notes)]) if notes else text

    def _allowed_channel_ids(self) -> dict[str, str]:
        names_by_id = {}
        for name in self.settings.mattermost.render_allowed_channels:
            try:
                names_by_id[self.chat.channel_id_by_name(name.lstrip("~"))] = name
            except GraphbotError as exc:
                log.warning("mattermost.render_allowed_channels: %s", exc)
        return names_by_id


def run(settings: Settings) -> int:
    """Run the bot until SIGTERM or SIGINT; return the exit status.

    Raises:
        ChatUnavailable: Mattermost cannot be reached or refuses the bot at start.
    """
    stopping = threading.Event()

    def request_stop(signal_number: int, frame: object) -> None:
        log.info("Stopping on %s", signal.Signals(signal_number).name)
        stopping.set()

    if not settings.mattermost.url:
        raise InvalidSettings(
            "mattermost.url: no Mattermost server is configured, and graphbot run "
            "posts there; set it in the settings file or GRAPHBOT_MATTERMOST__URL "
            "(graphbot render works without it)."
        )
    with _only_instance(settings.data_dir):
        service = Service(settings, ChatClient(settings.mattermost))
        service.start()
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signal_number, request_stop)
        try:
            stopping.wait()
        finally:
            service.stop()
    return 0


@contextmanager
def _only_instance(data_dir: Path) -> Iterator[None]:
    # Two bots on one data directory would answer every question twice and
    # post every warning twice.
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "graphbot.pid", "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise InvalidSettings(
                f"Another graphbot run (process {lock.read().strip() or 'unknown'}) "
                f"already uses the data_dir {data_dir}; stop it first, or give "
                "this one its own data_dir."
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


def _saved_snapshot(output_dir: Path) -> Snapshot | None:
    # Until the first refresh, where-answers come from the last published
    # inventory (already filtered for publication), if there is one.
    path = output_dir / pipeline.INVENTORY_FILE
    if not path.is_file():
        return None
    try:
        return pipeline.load_snapshot(path)
    except GraphbotError as exc:
        log.warning("The saved inventory is not used for where-answers: %s", exc)
        return None


def _covers(new: Inventory, old: Snapshot) -> bool:
    # A render of some hosts must not shrink what where-answers search.
    return set(new.host_names) >= set(old.inventory.host_names)
