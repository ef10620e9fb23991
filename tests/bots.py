"""Running a real Service against the test Mattermost server, and waiting on it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from bot.mattermost import ChatClient
from bot.service import Service
from bot.settings import Settings

WAIT_SECONDS = 60


def wait_until(condition: Callable[[], object], what: str) -> None:
    """Poll ``condition`` until it holds, or fail naming ``what`` was awaited."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def running_service(
    settings: Settings, is_ready: Callable[[Service], object], what: str
) -> Iterator[Service]:
    """A started Service, once it listens and ``is_ready`` holds; stopped after."""
    bot = Service(settings, ChatClient(settings.mattermost, reconnect_max_seconds=1))
    bot.start()
    try:
        assert bot.chat.wait_until_listening(WAIT_SECONDS)
        wait_until(lambda: is_ready(bot), what)
        yield bot
    finally:
        bot.stop()
