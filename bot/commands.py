"""Chat text -> Reply: where, render now, status, certs, help.

No chat import: the service hands in the text, who asked and what the bot
knows, and sends the Reply out. A reply that needs a fresh render says so in
``wants_render``; the service runs it, so two askers can share one render.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.errors import UnknownCommand
from bot.last_collected import StandIn
from bot.model import Container, Snapshot
from bot.settings import Settings
from renderers.text import (
    HostStatus,
    LastCollection,
    MatchedField,
    WhereAnswer,
    WhereMatch,
    echo_as_code,
    echo_as_text,
    render_help,
    render_status,
    render_where,
)

COMMAND_NAMES = ("where", "render", "status", "certs", "help")
_ALIASES = {"certificates": "certs", "?": "help", "render-now": "render"}


@dataclass(frozen=True)
class Command:
    """A parsed chat command and what follows its name."""

    name: str
    argument: str = ""


@dataclass(frozen=True)
class Asker:
    """Who asked, and where: enough to decide whether ``render now`` is allowed."""

    user_name: str
    user_id: str = ""
    channel_id: str = ""
    channel_name: str = ""
    is_direct: bool = False


@dataclass(frozen=True)
class Reply:
    """What the bot answers: Markdown text, files, and a render to run, if any.

    ``wants_render`` is None when no render is asked for, an empty list for the
    whole fleet, or the names of the hosts to collect.
    """

    text: str
    files: list[Path] = field(default_factory=list)
    wants_render: list[str] | None = None


@dataclass(frozen=True)
class Knowledge:
    """What the bot knows when it answers; the slow parts are loaded on demand.

    ``stand_ins`` are the hosts that failed now and are in ``snapshot`` as they
    were at their last successful collection; where-answers say so.
    """

    settings: Settings
    snapshot: Snapshot | None
    now: datetime
    load_statuses: Callable[[], list[HostStatus]] = list
    load_certificates: Callable[[], str] | None = None
    bot_name: str = "graphbot"
    stand_ins: tuple[StandIn, ...] = ()


def parse(text: str, bot_name: str = "graphbot") -> Command:
    """Read the command from chat text, without the bot's mention.

    Raises:
        UnknownCommand: the first word names no command; it carries suggestions.
    """
    words = strip_mention(text, bot_name).split()
    if not words:
        return Command("help")
    word = words[0].lower().rstrip(":,.!?") or words[0]
    name = _ALIASES.get(word, word)
    rest = words[1:]
    if name == "where" and rest and rest[0].lower() == "is":
        rest = rest[1:]
    if name == "render" and rest and rest[0].lower() == "now":
        rest = rest[1:]
    if name not in COMMAND_NAMES:
        close = difflib.get_close_matches(word, COMMAND_NAMES, n=2, cutoff=0.5)
        # The word is repeated in the answer: shortened, its mentions disarmed
        # and its Markdown escaped, since it is whatever the user typed.
        shown = echo_as_text(word)
        raise UnknownCommand(shown, [f"`{name}`" for name in close])
    return Command(name, " ".join(rest).strip(" ?"))


def strip_mention(text: str, bot_name: str = "graphbot") -> str:
    """What follows the bot's first @-mention, or the whole text without one.

    Words before the mention ("hey @graphbot, where is pad?") are chat, not
    the command. A longer name that starts the same (@graphbot-dev) is not
    the bot.
    """
    pattern = rf"(?<![\w@])@{re.escape(bot_name)}(?![\w-]|\.\w)"
    mention = re.search(pattern, text, flags=re.IGNORECASE)
    if mention is None:
        return text.strip()
    return text[mention.end():].lstrip(" \t\n:,;.!-").strip()


def answer(command: Command, asker: Asker, knowledge: Knowledge) -> Reply:
    """Answer a parsed command from what the bot knows."""
    if command.name == "where":
        return Reply(where(command.argument, knowledge))
    if command.name == "render":
        return render_now(command.argument, asker, knowledge.settings)
    if command.name == "status":
        zone = ZoneInfo(knowledge.settings.schedule.timezone)
        return Reply(render_status(knowledge.load_statuses(), knowledge.now, zone))
    if command.name == "certs":
        return Reply(certificates(knowledge))
    return Reply(render_help(knowledge.bot_name))


def handle_text(text: str, asker: Asker, knowledge: Knowledge) -> Reply:
    """Parse and answer chat text; an unknown command is answered, not raised."""
    try:
        command = parse(text, knowledge.bot_name)
    except UnknownCommand as exc:
        return Reply(str(exc))
    return answer(command, asker, knowledge)


def where(term: str, knowledge: Knowledge) -> str:
    """Which host runs what ``term`` names, from the latest inventory."""
    if not term:
        return (
            "Tell me what to look for, for example "
            f"`@{knowledge.bot_name} where is etherpad`."
        )
    snapshot = knowledge.snapshot
    if snapshot is None:
        return (
            "I have no inventory yet: the first collection is still running. "
            "Ask again in a minute."
        )
    inventory = snapshot.inventory
    matches = find_containers(snapshot, term)
    suggestions = [] if matches else suggest_names(snapshot, term)
    return render_where(
        WhereAnswer(
            term=term,
            matches=matches,
            collected_at=snapshot.collected_at,
            now=knowledge.now,
            suggestions=suggestions,
            failures=list(inventory.failures),
            host_count=len(inventory.hosts),
            stand_ins=tuple(
                LastCollection(
                    s.failure.host, s.inventory.collected_at, s.failure.failed_at
                )
                for s in knowledge.stand_ins
            ),
            zone=ZoneInfo(knowledge.settings.schedule.timezone),
        )
    )


def find_containers(snapshot: Snapshot, term: str) -> list[WhereMatch]:
    """Containers that hold every word of ``term`` somewhere a member would look.

    A word is found in the container's name, compose names, image, route URLs
    (scheme, trailing slash and case ignored), named volumes, or, when it is a
    whole number, a published host port or container port.
    """
    words = [_normal_url(word) for word in term.casefold().split()]
    words = [word for word in words if word]
    if not words:
        return []
    found = []
    for host in sorted(snapshot.inventory.hosts, key=lambda h: h.host):
        for container in sorted(host.containers, key=lambda c: c.name):
            matched = _match_words(container, words)
            if matched is not None:
                found.append(WhereMatch(host.host, container, matched))
    return found


def suggest_names(snapshot: Snapshot, term: str, count: int = 3) -> list[str]:
    """Names in the inventory that look like ``term``, closest first."""
    names = {
        name
        for host in snapshot.inventory.hosts
        for container in host.containers
        for name in (
            container.name, container.compose_service, container.compose_project
        )
        if name
    }
    return difflib.get_close_matches(term.casefold(), sorted(names), count, 0.6)


def render_now(argument: str, asker: Asker, settings: Settings) -> Reply:
    """Accept or refuse a render request; the service runs accepted ones."""
    if not may_render(asker, settings):
        return Reply(_refusal(settings))
    known = [host.name for host in settings.hosts]
    asked = argument.replace(",", " ").split()
    unknown = [name for name in asked if name not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, 1, 0.5)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        return Reply(
            f"There is no host {echo_as_code(unknown[0])}.{hint} The hosts are "
            f"{', '.join(f'`{name}`' for name in known)}."
        )
    what = ", ".join(f"`{name}`" for name in asked) if asked else "the whole fleet"
    return Reply(
        f"Collecting {what} now; the pictures follow in this thread.",
        wants_render=asked,
    )


def may_render(asker: Asker, settings: Settings) -> bool:
    """Tell whether the asker is allowed ``render now`` by the settings.

    Each list that is set must allow the asker: with both set, a listed user
    in a listed channel.
    """
    users = {_normal(name) for name in settings.mattermost.render_allowed_users}
    channels = {_normal(name) for name in settings.mattermost.render_allowed_channels}
    user_ok = not users or bool(users & {_normal(asker.user_name), asker.user_id})
    channel_ok = not channels or bool(
        channels & {_normal(asker.channel_name), asker.channel_id} - {""}
    )
    return user_ok and channel_ok


def certificates(knowledge: Knowledge) -> str:
    """The certificate table, or why there is none."""
    if not any(host.has_tls for host in knowledge.settings.hosts):
        return "No host uses TLS, so there is no certificate to check."
    if knowledge.load_certificates is None:
        return "Certificate checks are not available in this bot; run `graphbot certs`."
    return knowledge.load_certificates()


def _refusal(settings: Settings) -> str:
    channels = settings.mattermost.render_allowed_channels
    where = f" in {', '.join(f'~{_normal(c)}' for c in channels)}" if channels else ""
    return (
        "Sorry, `render now` is limited by the bot's settings and you are not "
        f"on the list{where}. `where`, `status` and `certs` work for everyone, "
        "and the daily post brings fresh pictures."
    )


def _match_words(
    container: Container, words: list[str]
) -> tuple[MatchedField, ...] | None:
    """What each word matched, None when a word matches nothing.

    A word found in the container's name needs no mention in the answer.
    """
    fields = _searchable(container)
    matched: list[MatchedField] = []
    for word in words:
        hit = _first_hit(container, fields, word)
        if hit is None:
            return None
        if hit[0] != "name" and MatchedField(*hit) not in matched:
            matched.append(MatchedField(*hit))
    return tuple(matched)


def _first_hit(
    container: Container, fields: list[tuple[str, str, str]], word: str
) -> tuple[str, str] | None:
    hits = [(kind, shown) for kind, text, shown in fields if word in text]
    if hits and hits[0][0] == "name":
        return hits[0]
    # A number is a port before anything else: "where 80" asks for the port,
    # not for every image tagged 1.80.
    return _port_hit(container, word) or next(iter(hits), None)


def _searchable(container: Container) -> list[tuple[str, str, str]]:
    """(kind, text to search, text to show) for every searchable field, in the
    order an answer should name them."""
    urls = [url for route in container.routes for url in route.urls]
    volumes = [
        mount.source for mount in container.mounts
        if mount.kind == "volume" and mount.source
    ]
    fields = [
        ("name", container.name),
        ("compose service", container.compose_service),
        ("compose project", container.compose_project),
        ("image", container.image_ref),
        *(("URL", url) for url in urls),
        *(("volume", volume) for volume in volumes),
    ]
    return [
        (kind, _normal_url(text) if kind == "URL" else text.casefold(), text)
        for kind, text in fields
        if text
    ]


def _port_hit(container: Container, word: str) -> tuple[str, str] | None:
    """A published port whose host or container port is ``word`` as a number.

    ":18096" and "18096/tcp" are read as 18096, as people copy them from
    ``docker ps``.
    """
    number = word.lstrip(":").split("/", 1)[0]
    if not number.isdigit():
        return None
    for port in container.ports:
        if int(number) in (port.host_port, port.container_port):
            shown = f"{port.host_port}→{port.container_port}/{port.protocol}"
            return ("published port", shown)
    return None


def _normal_url(text: str) -> str:
    """A URL or host name as compared: no scheme, no trailing slash, any case."""
    text = re.sub(r"^[a-z][a-z0-9+.-]*://", "", text.strip().casefold())
    return text.rstrip("/")


def _normal(name: str) -> str:
    return name.strip().lstrip("@~").casefold()
