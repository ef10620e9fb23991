"""Catching up on posts made while the WebSocket was down: what was seen, since when.

Pure; no I/O. ``bot.mattermost`` records every post it sees here, asks where to start
after a reconnect, fetches the posts since then, and lets this module pick the ones
still to answer: addressed to the bot, not handled yet, the newest few per channel.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from bot.chat_protocol import IncomingMessage, mentions_user, read_post

CATCH_UP_MAX_AGE_SECONDS = 3600
CATCH_UP_MAX_PER_CHANNEL = 20
_REMEMBERED_POSTS = 2000


class SeenPosts:
    """Recent posts for the bot, by id, and the newest creation time of any post.

    Safe to share between the WebSocket thread and the handler threads: a post
    delivered both as an event and by a catch-up is taken only once.
    """

    def __init__(self, remembered: int = _REMEMBERED_POSTS) -> None:
        self._lock = threading.Lock()
        self._ids: set[str] = set()
        self._order: deque[str] = deque()
        self._remembered = remembered
        self._newest_ms: int | None = None
        self._listening_since_ms: int | None = None

    def start_listening(self, now_ms: int) -> None:
        """Note when listening began: where a catch-up starts if no post is seen."""
        with self._lock:
            if self._listening_since_ms is None:
                self._listening_since_ms = now_ms

    def take_time(self, create_at_ms: int) -> None:
        """Note the creation time of any post seen, addressed to the bot or not."""
        with self._lock:
            if create_at_ms > (self._newest_ms or 0):
                self._newest_ms = create_at_ms

    def take(self, post_id: str) -> bool:
        """Record a post for the bot; tell whether it is new (False: handled before)."""
        with self._lock:
            if post_id in self._ids:
                return False
            self._ids.add(post_id)
            self._order.append(post_id)
            if len(self._order) > self._remembered:
                self._ids.discard(self._order.popleft())
            return True

    def catch_up_since_ms(self, now_ms: int, max_age_seconds: float) -> int:
        """Where a catch-up starts: at the newest post seen, at most max_age ago.

        The newest post's time comes from the server's clock; before any post is
        seen, the bot's own clock at the first connection stands in for it. It
        starts a millisecond before, so that a post made in that same millisecond
        is not missed; one already handled is skipped by its id.
        """
        with self._lock:
            anchor = (self._newest_ms or self._listening_since_ms or now_ms) - 1
        return max(anchor, now_ms - int(max_age_seconds * 1000))


def posts_since(post_list: dict[str, Any], since_ms: int) -> list[dict[str, Any]]:
    """The posts of a ``PostList`` answer created after ``since_ms``, oldest first.

    ``since`` on the server selects posts *changed* after that time, so edits and
    deletions of older posts come back too; they are left out here.
    """
    posts = (post_list or {}).get("posts") or {}
    created = [
        post
        for post in posts.values()
        if isinstance(post, dict)
        and post.get("create_at", 0) > since_ms
        and not post.get("delete_at")
    ]
    return sorted(created, key=lambda post: post["create_at"])


def read_missed_posts(
    post_list: dict[str, Any],
    channel_type: str,
    since_ms: int,
    seen: SeenPosts,
    bot_user_id: str,
    bot_user_name: str,
) -> list[IncomingMessage]:
    """The messages for the bot in one channel's posts since ``since_ms``, not yet
    handled, oldest first; the sender's name is left empty (posts carry only ids).
    """
    missed = []
    for post in posts_since(post_list, since_ms):
        seen.take_time(post["create_at"])
        message = read_post(
            post,
            bot_user_id,
            channel_type=channel_type,
            sender_name="",
            mentions_bot=mentions_user(str(post.get("message", "")), bot_user_name),
        )
        if message is not None and seen.take(message.post_id):
            missed.append(message)
    return missed


def newest_per_channel(
    messages: Sequence[IncomingMessage], limit: int
) -> tuple[list[IncomingMessage], int]:
    """Keep the newest ``limit`` messages of each channel; also say how many were cut.

    ``messages`` are oldest first, and so is the answer.
    """
    kept_ids: set[str] = set()
    count_by_channel: dict[str, int] = {}
    for message in reversed(messages):
        count = count_by_channel.get(message.channel_id, 0)
        if count < limit:
            kept_ids.add(message.post_id)
        count_by_channel[message.channel_id] = count + 1
    kept = [message for message in messages if message.post_id in kept_ids]
    return kept, len(messages) - len(kept)
