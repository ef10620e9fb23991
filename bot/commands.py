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
from bot.model import Container, Snapshot
from bot.settings import Settings
from renderers.text import (
    HostStatus,
    WhereAnswer,
    WhereMatch,
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
    """What the bot knows when it answers; the slow parts are loaded on demand."""

    settings: Settings
    snapshot: Snapshot | None
    now: datetime
    load_statuses: Callable[[], list[HostStatus]] = list
    load_certificates: Callable[[], str] | None = None
    bot_name: str = "graphbot"


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
        raise UnknownCommand(word, [f"`{name}`" for name in close])
    return Command(name, " ".join(rest).strip(" ?"))


def strip_mention(text: str, bot_name: str = "graphbot") -> str:
    """Remove the bot's @-mention (any case, with or without a colon)."""
    pattern = rf"(?<![\w@])@{re.escape(bot_name)}\b:?,?"
    return re.sub(pattern, " ", text, count=1, flags=re.IGNORECASE).strip()


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
        )
    )


def find_containers(snapshot: Snapshot, term: str) -> list[WhereMatch]:
    """Containers whose names, compose names, image or URLs hold every word of term."""
    words = term.casefold().split()
    return [
        WhereMatch(host.host, container)
        for host in sorted(snapshot.inventory.hosts, key=lambda h: h.host)
        for container in sorted(host.containers, key=lambda c: c.name)
        if _matches(_searchable(container), words)
    ]


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
            f"There is no host `{unknown[0]}`.{hint} The hosts are "
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


def _searchable(container: Container) -> list[str]:
    urls = [url for route in container.routes for url in route.urls]
    fields = [
        container.name, container.compose_project, container.compose_service,
        container.image_ref, *urls,
    ]
    return [text.casefold() for text in fields if text]


def _matches(fields: list[str], words: list[str]) -> bool:
    return bool(words) and all(any(word in text for text in fields) for word in words)


def _normal(name: str) -> str:
    return name.strip().lstrip("@~").casefold()
