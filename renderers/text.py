"""Markdown answers for chat: where-results, status, daily summary, help.

Pure; no I/O. Every name that comes from the inventory is put in a code span or
escaped, so a container or route cannot break a table or inject markup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo

from bot.model import Container, HostFailure, HostInventory, PublishedPort, Snapshot

ECHO_LIMIT = 70  # characters of user text repeated in an answer, ellipsis included
NEEDS_A_LOOK_LIMIT = 10  # containers named in the daily post's "Needs a look"
_EVERY_ADDRESS = ("", "0.0.0.0", "::")
_PLAIN_URL = re.compile(r"[a-z]+://[A-Za-z0-9.:/_~%?=&+@-]+")
# Mattermost notifies on "@" + a name anywhere in the raw text: its server splits
# the message into words and a word starting with "@" is a mention, whatever
# Markdown says; so a backslash before "@" would still ping, and code spans are
# not skipped by every server version. A WORD JOINER (U+2060) right after the
# "@" is neither letter nor digit, so the server sees a lone "@" and the name as
# two words and the web app highlights nothing. Browsers draw it as nothing, so
# the echo reads exactly as it was typed.
_WORD_JOINER = "\u2060"
_MENTION_START = re.compile(r"@(?=[\w.-])")
_EXIT_CODE = re.compile(r"Exited \((-?\d+)\)")


@dataclass(frozen=True)
class HostStatus:
    """What the bot knows about one host's last collections."""

    host: str
    last_success_at: datetime | None = None
    last_error: str = ""
    last_error_at: datetime | None = None

    @property
    def has_failed_last(self) -> bool:
        if not self.last_error or self.last_error_at is None:
            return False
        return self.last_success_at is None or self.last_error_at > self.last_success_at


@dataclass(frozen=True)
class MatchedField:
    """What a where-term matched in a container other than its name."""

    kind: str  # "volume", "published port", "URL", "image", ...
    value: str


@dataclass(frozen=True)
class WhereMatch:
    """One container that matches a where-term, with the host that runs it.

    ``matched`` is empty when the container's name holds every word of the term.
    """

    host: str
    container: Container
    matched: tuple[MatchedField, ...] = ()


@dataclass(frozen=True)
class LastCollection:
    """A host not collected now, searched as it was when last collected."""

    host: str
    collected_at: datetime
    failed_at: datetime


@dataclass(frozen=True)
class WhereAnswer:
    """Everything a where-answer shows, as plain values.

    ``zone`` is the fleet's time zone, for the times of ``stand_ins``.
    """

    term: str
    matches: list[WhereMatch]
    collected_at: datetime
    now: datetime
    suggestions: list[str] = field(default_factory=list)
    failures: list[HostFailure] = field(default_factory=list)
    host_count: int = 0
    stand_ins: tuple[LastCollection, ...] = ()
    zone: tzinfo = timezone.utc


def describe_age(then: datetime, now: datetime) -> str:
    """Say how long ago ``then`` was, in words: "4 minutes ago"."""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'} ago"
    return "just now"


def format_time(moment: datetime, zone: tzinfo) -> str:
    """A moment as people read it in the fleet's time zone: "12 Mar 08:00 CET"."""
    local = moment.astimezone(zone)
    return f"{local.day} {local:%b %H:%M} {local.tzname() or ''}".rstrip()


def safe_echo(text: str, limit: int = ECHO_LIMIT) -> str:
    """User text fit to repeat in a post: one line, at most ``limit`` characters,
    no live @-mention. It still needs escaping or a code span."""
    line = " ".join(text.split())
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return _MENTION_START.sub("@" + _WORD_JOINER, line)


def echo_as_text(text: str) -> str:
    """User text to repeat in Markdown prose: shortened, disarmed, escaped."""
    return _escape(safe_echo(text))


def echo_as_code(text: str) -> str:
    """User text to repeat as a code span: shortened and disarmed."""
    return _code(safe_echo(text))


def render_where(answer: WhereAnswer) -> str:
    """The answer to ``where <term>``: each match with host, state, image, URLs.

    Hosts answered for by their last successful collection are named at the end.
    """
    notes = [_stand_in_note(stand_in, answer) for stand_in in answer.stand_ins]
    return "\n\n".join([_where_results(answer), *notes])


def _where_results(answer: WhereAnswer) -> str:
    age = f"inventory collected {describe_age(answer.collected_at, answer.now)}"
    if not answer.matches:
        lines = [f"Nothing matches {_quote(answer.term)} ({age}, "
                 f"{_plural(answer.host_count, 'host')} searched)."]
        if answer.suggestions:
            names = ", ".join(_code(name) for name in answer.suggestions)
            lines.append(f"Close names: {names}.")
        return "\n".join(lines + _failure_notes(answer.failures))
    hosts = sorted({m.host for m in answer.matches})
    count = len(answer.matches)
    lines = [
        f"{_quote(answer.term)} matches {count} container{'' if count == 1 else 's'}"
        f" on {_plural(len(hosts), 'host')} ({age}):"
    ]
    for host in hosts:
        lines += ["", f"**{_escape(host)}**"]
        for match in answer.matches:
            if match.host == host:
                lines += _describe_container(match.container)
                lines += _describe_matched(match.matched)
    return "\n".join(lines + _failure_notes(answer.failures))


def render_status(statuses: list[HostStatus], now: datetime, zone: tzinfo) -> str:
    """The status table: each host, when last collected, the error if it failed."""
    if not statuses:
        return "No host is configured, so there is nothing to report."
    rows = ["| Host | Last collected | Last attempt |", "|---|---|---|"]
    for status in statuses:
        rows.append(
            f"| {_escape(status.host)} | {_when(status.last_success_at, now, zone)} "
            f"| {_last_attempt(status, now)} |"
        )
    failed = sum(status.has_failed_last for status in statuses)
    summary = (
        f"{len(statuses) - failed} of {_plural(len(statuses), 'host')} answered "
        "on the last attempt."
    )
    return "\n".join([summary, "", *rows])


def render_summary(snapshot: Snapshot, zone: tzinfo) -> str:
    """The daily post's table: per host, containers running and not, or the failure."""
    inventory = snapshot.inventory
    hosts = sorted(inventory.hosts, key=lambda h: h.host)
    running = sum(c.state == "running" for h in hosts for c in h.containers)
    total = len(hosts) + len(inventory.failures)
    title = inventory.organization or "The fleet"
    sample = " (sample fleet)" if inventory.is_sample else ""
    lines = [
        f"**{_escape(title)}**{sample} on {format_time(snapshot.collected_at, zone)}: "
        f"{len(hosts)} of {_plural(total, 'host')} collected, "
        f"{_plural(running, 'container')} running.",
        "",
        "| Host | Running | Not running | Collection |",
        "|---|---:|---:|---|",
    ]
    lines += [_summary_row(host) for host in hosts]
    lines += [
        f"| {_escape(f.host)} | – | – | **failed**: {_escape(f.reason)} |"
        for f in sorted(inventory.failures, key=lambda f: f.host)
    ]
    return "\n".join(lines + _needs_a_look(hosts))


def describe_trouble(container: Container) -> str:
    """Why a container needs a look ("unhealthy", "exited with code 1"), or ""."""
    reasons = []
    if container.health == "unhealthy":
        reasons.append("unhealthy")
    if container.state in ("restarting", "paused", "dead"):
        reasons.append(container.state)
    elif container.state == "exited":
        code = _EXIT_CODE.search(container.status)
        # Without the engine's status the exit code is unknown; a clean stop is
        # then shown too rather than hiding a crash.
        if code is None:
            reasons.append("exited")
        elif code.group(1) != "0":
            reasons.append(f"exited with code {code.group(1)}")
    return ", ".join(reasons)


def render_help(bot_name: str = "graphbot") -> str:
    """The commands, each with one example."""
    mention = f"@{bot_name}"
    return "\n".join(
        [
            f"Mention me ({mention}) in a channel I am in, or write to me directly:",
            "",
            f"- `where <name>`: which host runs it. Example: `{mention} where is "
            "etherpad`. Parts of names work (`where pad`), and so do URLs, "
            "published ports and volume names.",
            f"- `render now [host]`: collect and draw now, pictures in the thread. "
            f"Example: `{mention} render now media`.",
            f"- `status`: each host, when it was last collected, the last error. "
            f"Example: `{mention} status`.",
            f"- `certs`: the TLS certificates and the days they have left. "
            f"Example: `{mention} certs`.",
            f"- `help`: this list. Example: `{mention} help`.",
        ]
    )


def _describe_container(container: Container) -> list[str]:
    health = f", {container.health}" if container.health else ""
    lines = [
        f"- {_code(container.name)}: {container.state}{health}, "
        f"image {_code(container.image_ref)}"
    ]
    urls = [url for route in container.routes for url in route.urls]
    unread = [route.router for route in container.routes if not route.is_parsed]
    if container.compose_project or container.compose_service:
        names = (container.compose_project, container.compose_service)
        compose = "/".join(_code(name) for name in names if name)
        lines.append(f"  Compose: {compose}")
    if urls:
        # Traefik drops the routes of a stopped container, so they do not work.
        stopped = " (not served: container stopped)" if container.is_stopped else ""
        lines.append(f"  URLs: {', '.join(map(_url, urls))}{stopped}")
    notes = [r.problem for r in container.routes if r.is_parsed and r.problem]
    if notes:
        lines.append(f"  Route notes: {' '.join(map(_escape, notes))}")
    if unread:
        lines.append(f"  Routes with unreadable rules: {', '.join(map(_code, unread))}")
    if container.ports:
        lines.append(f"  Ports: {', '.join(map(_port, container.ports))}")
    networks = [a.network for a in container.networks]
    if networks:
        lines.append(f"  Networks: {', '.join(map(_code, networks))}")
    elif container.network_mode:
        lines.append(f"  Network mode: {_code(container.network_mode)}")
    return lines


def _describe_matched(matched: tuple[MatchedField, ...]) -> list[str]:
    if not matched:
        return []
    found = ", ".join(f"{field.kind} {_code(field.value)}" for field in matched)
    return [f"  Matched {found}"]


def _summary_row(host: HostInventory) -> str:
    running = sum(c.state == "running" for c in host.containers)
    others = len(host.containers) - running
    notes = "; ".join(_clause(note) for note in host.notes)
    notes = f" ({_escape(notes)})" if notes else ""
    return f"| {_escape(host.host)} | {running} | {others} | collected{notes} |"


def _needs_a_look(hosts: list[HostInventory]) -> list[str]:
    troubled = [
        f"- {_code(container.name)} on {_escape(host.host)}: {trouble}"
        for host in hosts
        for container in sorted(host.containers, key=lambda c: c.name)
        if (trouble := describe_trouble(container))
    ]
    if not troubled:
        return []
    shown = troubled[:NEEDS_A_LOOK_LIMIT]
    rest = len(troubled) - len(shown)
    more = [f"- and {rest} more; `where <name>` shows each."] if rest else []
    return ["", "Needs a look:", *shown, *more]


def _failure_notes(failures: list[HostFailure]) -> list[str]:
    if not failures:
        return []
    return [""] + [
        f"Host {_code(f.host)} was not searched, as it was not collected: "
        f"{_escape(_sentence(f.reason))}"
        for f in failures
    ]


def _stand_in_note(stand_in: LastCollection, answer: WhereAnswer) -> str:
    collected_at, now = stand_in.collected_at, answer.now
    return (
        f"Results for host {_code(stand_in.host)} are from its last successful "
        f"collection, {describe_age(collected_at, now)} "
        f"({format_time(collected_at, answer.zone)}): it was not collected "
        f"{describe_age(stand_in.failed_at, now)}. `status` says why."
    )


def _last_attempt(status: HostStatus, now: datetime) -> str:
    if status.has_failed_last and status.last_error_at is not None:
        return (
            f"**failed** {describe_age(status.last_error_at, now)}: "
            f"{_escape(status.last_error)}"
        )
    if status.last_success_at is None:
        return "not tried yet"
    return "ok"


def _when(moment: datetime | None, now: datetime, zone: tzinfo) -> str:
    if moment is None:
        return "never"
    return f"{describe_age(moment, now)} ({format_time(moment, zone)})"


def _port(port: PublishedPort) -> str:
    address = "" if port.host_ip in _EVERY_ADDRESS else port.host_ip
    if ":" in address:
        address = f"[{address}]"
    prefix = f"{address}:" if address else ""
    return f"`{prefix}{port.host_port}→{port.container_port}/{port.protocol}`"


def _url(url: str) -> str:
    # Plain URLs stay clickable; anything odd (a regexp from HostRegexp, spaces)
    # is shown as code rather than escaped into a broken link.
    return url if _PLAIN_URL.fullmatch(url) else _code(url)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _clause(text: str) -> str:
    """Text without its closing full stop, to sit inside parentheses or a list."""
    return text.strip().removesuffix(".")


def _sentence(text: str) -> str:
    """Text ending in exactly one full stop (or its own ? or !)."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _quote(term: str) -> str:
    return f"“{echo_as_text(term)}”"


def _code(text: str) -> str:
    # A code span cannot hold a backtick; names from Docker never contain one,
    # but labels and terms typed in chat might.
    safe = text.replace("`", "'")
    return f"`{safe}`"


def _escape(text: str) -> str:
    """Make text safe inside Markdown prose and table cells."""
    text = text.replace("\\", "\\\\").replace("\n", " ").replace("|", "\\|")
    for char in "*_`[]<>#~":
        text = text.replace(char, f"\\{char}")
    return text
