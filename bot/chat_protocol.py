"""What the bot reads from Mattermost: the server URL as written, posts for the bot.

Pure; no I/O. ``bot.mattermost`` connects with the ``ServerAddress``, hands each
WebSocket event to ``read_posted_event`` and each post fetched after a reconnect to
``read_post``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from bot.errors import InvalidSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerAddress:
    """Where the Mattermost server answers, split the way the driver wants it."""

    scheme: Literal["http", "https"]
    host: str
    port: int
    base_path: str

    @property
    def url(self) -> str:
        default_port = 443 if self.scheme == "https" else 80
        port = "" if self.port == default_port else f":{self.port}"
        return f"{self.scheme}://{self.host_in_url}{port}{self.base_path}"

    @property
    def websocket_url(self) -> str:
        scheme = "wss" if self.scheme == "https" else "ws"
        path = f"{self.base_path}/api/v4/websocket"
        return f"{scheme}://{self.host_in_url}:{self.port}{path}"

    @property
    def host_in_url(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host


def parse_server_url(url: str) -> ServerAddress:
    """Read the server URL as people write it: scheme, host, port, sub-path, slash.

    Raises:
        InvalidSettings: when the URL is empty or names another scheme.
    """
    text = url.strip()
    if text and "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidSettings(
            "mattermost.url: expected the address of the Mattermost server, such as "
            "https://chat.example.org or https://example.org/chat."
        )
    base_path = parts.path.rstrip("/")
    base_path = base_path.removesuffix("/api/v4")
    default_port = 443 if parts.scheme == "https" else 80
    scheme: Literal["http", "https"] = "https" if parts.scheme == "https" else "http"
    return ServerAddress(scheme, parts.hostname, port or default_port, base_path)


@dataclass(frozen=True)
class IncomingMessage:
    """A post addressed to the bot: it mentions the bot, or is a direct message."""

    post_id: str
    root_id: str
    channel_id: str
    channel_type: str
    user_id: str
    user_name: str
    text: str
    is_direct: bool
    mentions_bot: bool

    @property
    def thread_id(self) -> str:
        """The root post to answer under, so that replies stay in one thread."""
        return self.root_id or self.post_id


def read_posted_event(
    event: dict[str, Any], bot_user_id: str
) -> IncomingMessage | None:
    """Turn a ``posted`` event into a message for the bot, or None if it is not one."""
    if event.get("event") != "posted":
        return None
    data = event.get("data", {})
    try:
        post = json.loads(data["post"])
        mentions = json.loads(data.get("mentions") or "[]")
    except (KeyError, TypeError, ValueError):
        log.debug("A posted event without a readable post was skipped.")
        return None
    return read_post(
        post,
        bot_user_id,
        channel_type=data.get("channel_type", ""),
        sender_name=data.get("sender_name", ""),
        mentions_bot=bot_user_id in mentions,
    )


def posted_at_ms(event: dict[str, Any]) -> int:
    """When the post of a ``posted`` event was created (server ms), or 0."""
    if event.get("event") != "posted":
        return 0
    try:
        created = json.loads(event["data"]["post"]).get("create_at", 0)
    except (KeyError, TypeError, ValueError, AttributeError):
        return 0
    return created if isinstance(created, int) else 0


def read_post(
    post: dict[str, Any],
    bot_user_id: str,
    *,
    channel_type: str,
    sender_name: str,
    mentions_bot: bool,
) -> IncomingMessage | None:
    """Turn a post into a message for the bot, or None if it is not addressed to it.

    Posts of the bot itself, of other bots and system posts (joins, header changes)
    are never messages for the bot.
    """
    is_from_bot = str(post.get("props", {}).get("from_bot", "")).lower() == "true"
    if post.get("user_id") == bot_user_id or is_from_bot or post.get("type"):
        return None
    try:
        message = IncomingMessage(
            post_id=post["id"],
            root_id=post.get("root_id", ""),
            channel_id=post["channel_id"],
            channel_type=channel_type,
            user_id=post["user_id"],
            user_name=sender_name.lstrip("@"),
            text=post.get("message", ""),
            is_direct=channel_type == "D",
            mentions_bot=mentions_bot,
        )
    except KeyError:
        log.debug("A post without id, channel or author was skipped.")
        return None
    return message if message.is_direct or message.mentions_bot else None


def mentions_user(text: str, user_name: str) -> bool:
    """Tell whether ``text`` mentions ``@user_name``, as the server would notify it.

    Used for posts fetched over REST, which, unlike ``posted`` events, carry no list
    of mentioned users. ``@channel``, ``@all`` and ``@here`` are not counted, so a
    question asked that way while the bot was away stays unanswered.
    """
    if not user_name:
        return False
    pattern = rf"(?<![\w@.-])@{re.escape(user_name)}(?![\w-]|\.[\w-])"
    return re.search(pattern, text, re.IGNORECASE) is not None
