"""Mattermost: connect, listen for mentions and direct messages, post with files.

The only importer of mattermostdriver and requests; nothing above this module sees a
driver answer or a library exception. The driver serves the REST API only: the event
stream comes from ``bot.chat_socket``, the only importer of websockets.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import requests
from mattermostdriver import Driver
from mattermostdriver import exceptions as driver_errors

from bot.catch_up import (
    CATCH_UP_MAX_AGE_SECONDS,
    CATCH_UP_MAX_PER_CHANNEL,
    SeenPosts,
    newest_per_channel,
    read_missed_posts,
)
from bot.chat_limits import DEFAULT_MAX_FILE_BYTES, plan_posts
from bot.chat_protocol import (
    IncomingMessage,
    parse_server_url,
    posted_at_ms,
    read_posted_event,
)
from bot.chat_socket import EventListener
from bot.errors import ChatUnavailable
from bot.settings import MattermostSettings

log = logging.getLogger(__name__)

MessageHandler = Callable[[IncomingMessage], None]


class ChatClient:
    """The bot's account on one Mattermost server: REST calls and its event stream."""

    def __init__(
        self,
        settings: MattermostSettings,
        *,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        timeout_seconds: float = 30,
        reconnect_max_seconds: float = 60,
    ) -> None:
        self.address = parse_server_url(settings.url)
        self.max_file_bytes = max_file_bytes
        self.bot_user_id = ""
        self.bot_user_name = ""
        self.team_id = ""
        self.channel_id = ""
        self._settings = settings
        self._token = settings.read_token()
        self._listener: EventListener | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._reconnect_max_seconds = reconnect_max_seconds
        self._seen = SeenPosts()
        self._has_listened = False
        self._user_name_by_id: dict[str, str] = {}
        # The driver logs every refused request at ERROR; each is translated and
        # reported here instead, once, in the user's words.
        logging.getLogger("mattermostdriver.websocket").setLevel(logging.CRITICAL)
        self._driver = Driver(
            {
                "scheme": self.address.scheme,
                "url": self.address.host_in_url,
                "port": self.address.port,
                "basepath": f"{self.address.base_path}/api/v4",
                "token": self._token,
                "verify": str(settings.ca_file) if settings.ca_file else True,
                "request_timeout": timeout_seconds,
                "debug": False,  # the driver's debug output includes credentials
            }
        )

    # -- start-up --------------------------------------------------------------

    def connect(self) -> None:
        """Check the server, log in with the token, resolve team and channel.

        Raises:
            ChatUnavailable: naming what failed and what to change.
        """
        self._check_server()
        me = self._call("log in", self._driver.login)
        self.bot_user_id, self.bot_user_name = me["id"], me["username"]
        team_name = self._settings.team
        try:
            team = self._call(
                "find the team", self._driver.teams.get_team_by_name, team_name
            )
        except _NotFound:
            raise ChatUnavailable(
                f'The team "{team_name}" does not exist on {self.address.url} or the '
                "bot is not in it; check mattermost.team and add the bot to the team."
            ) from None
        self.team_id = team["id"]
        self.channel_id = self.channel_id_by_name(self._settings.channel)
        log.info(
            "Connected to Mattermost at %s as @%s; the channel is ~%s in team %s.",
            self.address.url,
            self.bot_user_name,
            self._settings.channel,
            team_name,
        )

    def channel_id_by_name(self, name: str) -> str:
        """The id of a channel of the configured team, by its name (``town-square``)."""
        team_name = self._settings.team
        try:
            channel = self._call(
                "find the channel",
                self._driver.channels.get_channel_by_name_and_team_name,
                team_name,
                name,
            )
        except _NotFound:
            raise ChatUnavailable(
                f'The channel "{name}" does not exist in team "{team_name}" or the bot '
                "may not see it; check the channel name and add the bot to it."
            ) from None
        return channel["id"]

    def _check_server(self) -> None:
        try:
            response = self._call(
                "answer", self._driver.client.make_request, "get", "/system/ping"
            )
            answer = response.json()
        except (_Refused, ValueError):
            answer = None
        if not isinstance(answer, dict) or answer.get("status") != "OK":
            raise ChatUnavailable(
                f"The server at {self.address.url} does not answer like a Mattermost "
                "server; check mattermost.url, including any sub-path such as /chat."
            )

    # -- sending ---------------------------------------------------------------

    def post(
        self,
        channel_id: str,
        message: str,
        files: Sequence[Path] = (),
        root_id: str = "",
    ) -> list[str]:
        """Post a message with files, split over several posts where limits demand.

        Files the server would refuse are replaced by their SVG twin or left out, and a
        line in the message says so. Returns the ids of the posts made, in order.

        Raises:
            ChatUnavailable: when the server cannot be reached or refuses the post.
        """
        return [
            self._create_post(channel_id, planned.message, root_id, planned.files)
            for planned in plan_posts(message, files, self.max_file_bytes)
        ]

    def _create_post(
        self, channel_id: str, message: str, root_id: str, files: list[Path]
    ) -> str:
        file_ids = [self._upload(channel_id, path) for path in files]
        options: dict[str, Any] = {"channel_id": channel_id, "message": message}
        if root_id:
            options["root_id"] = root_id
        if file_ids:
            options["file_ids"] = file_ids
        post = self._call("create the post", self._driver.posts.create_post, options)
        log.debug(
            "Posted %s with %d files in channel %s.",
            post["id"],
            len(file_ids),
            channel_id,
        )
        return post["id"]

    def _upload(self, channel_id: str, path: Path) -> str:
        with path.open("rb") as content:
            answer = self._call(
                f"upload {path.name}",
                self._driver.files.upload_file,
                channel_id,
                {"files": (path.name, content)},
            )
        return answer["file_infos"][0]["id"]

    # -- listening -------------------------------------------------------------

    def listen(self, handler: MessageHandler) -> None:
        """Receive posts addressed to the bot in a background thread, reconnecting.

        ``handler`` runs in a small thread pool, so a slow answer does not hold up
        the next message. Call ``connect`` first.
        """
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="chat")
        self._listener = EventListener(
            self.address,
            self._token,
            self._settings.ca_file,
            lambda event: self._on_event(event, handler),
            lambda: self._on_open(handler),
            self._reconnect_max_seconds,
        )
        self._listener.start()

    def wait_until_listening(self, timeout_seconds: float) -> bool:
        """Tell whether the event stream is (or becomes, within the timeout) open."""
        return self._listener is not None and self._listener.is_listening.wait(
            timeout_seconds
        )

    def close(self) -> None:
        """Stop listening and wait for answers in progress."""
        if self._listener is not None:
            self._listener.stop()
            self._listener = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def _on_event(self, event: dict[str, Any], handler: MessageHandler) -> None:
        self._seen.take_time(posted_at_ms(event))
        message = read_posted_event(event, self.bot_user_id)
        if message is not None and self._seen.take(message.post_id):
            self._submit(handler, message)

    def _submit(self, handler: MessageHandler, message: IncomingMessage) -> None:
        if self._executor is None:
            return
        log.debug(
            "Message %s from @%s in %s.",
            message.post_id,
            message.user_name,
            message.channel_id,
        )
        self._executor.submit(_run_handler, handler, message)

    # -- catching up after a reconnect -----------------------------------------

    def _on_open(self, handler: MessageHandler) -> None:
        # Runs in the WebSocket thread before the next event is read, so the start
        # of the catch-up is fixed before new posts move it.
        now_ms = int(time.time() * 1000)
        if not self._has_listened:
            self._has_listened = True
            self._seen.start_listening(now_ms)
            return
        since_ms = self._seen.catch_up_since_ms(now_ms, CATCH_UP_MAX_AGE_SECONDS)
        if self._executor is not None:
            self._executor.submit(self._catch_up, handler, since_ms)

    def _catch_up(self, handler: MessageHandler, since_ms: int) -> None:
        try:
            missed, channel_count = self._fetch_missed(since_ms)
            kept, cut = newest_per_channel(missed, CATCH_UP_MAX_PER_CHANNEL)
            kept = [replace(m, user_name=self._user_name(m.user_id)) for m in kept]
        except ChatUnavailable as exc:
            log.warning(
                "Posts made while the WebSocket was down were not fetched, so "
                "questions asked then stay unanswered: %s",
                exc,
            )
            return
        except Exception:  # a bug: the executor would otherwise swallow it
            log.exception("Catching up on posts after reconnecting failed.")
            return
        log.info(
            "Caught up after reconnecting: %d posts for the bot were made while the "
            "WebSocket was down (%d channels checked; %d older ones beyond %d per "
            "channel skipped).",
            len(kept),
            channel_count,
            cut,
            CATCH_UP_MAX_PER_CHANNEL,
        )
        for message in kept:
            self._submit(handler, message)

    def _fetch_missed(self, since_ms: int) -> tuple[list[IncomingMessage], int]:
        # /users/me/channels lists the channels of every team and the direct and
        # group channels (server 6.1 and later), as the WebSocket delivers them.
        channels = self._call(
            "list the bot's channels", self._driver.client.get, "/users/me/channels"
        )
        missed = [
            message
            for channel in channels
            for message in read_missed_posts(
                self._posts_since(channel["id"], since_ms),
                channel.get("type", ""),
                since_ms,
                self._seen,
                self.bot_user_id,
                self.bot_user_name,
            )
        ]
        return missed, len(channels)

    def _posts_since(self, channel_id: str, since_ms: int) -> dict[str, Any]:
        return self._call(
            "fetch missed posts",
            self._driver.posts.get_posts_for_channel,
            channel_id,
            {"since": since_ms},
        )

    def _user_name(self, user_id: str) -> str:
        if user_id not in self._user_name_by_id:
            user = self._call("find a user", self._driver.users.get_user, user_id)
            self._user_name_by_id[user_id] = user["username"]
        return self._user_name_by_id[user_id]

    # -- errors ----------------------------------------------------------------

    def _call(self, what: str, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except requests.exceptions.SSLError as exc:
            reason = _certificate_reason(exc)
            log.error(
                "Mattermost at %s refused over TLS: %s.", self.address.url, reason
            )
            raise ChatUnavailable(
                f"The TLS connection to Mattermost at {self.address.url} failed "
                f"({reason}). If the server's certificate comes from a private CA, set "
                "mattermost.ca_file to that CA's certificate."
            ) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ChatUnavailable(
                f"Mattermost at {self.address.url} cannot be reached to {what} "
                f"({_connection_reason(exc)}); check mattermost.url and that the "
                "server is running."
            ) from exc
        except driver_errors.NoAccessTokenProvided as exc:
            raise ChatUnavailable(
                f"Mattermost at {self.address.url} refused the bot's access token; "
                "create a new token for the bot account and put it in "
                "mattermost.token_file or GRAPHBOT_MATTERMOST__TOKEN."
            ) from exc
        except (driver_errors.ResourceNotFound, driver_errors.MethodNotAllowed) as exc:
            raise _NotFound(f"Mattermost could not {what}: {exc}.") from exc
        except requests.HTTPError as exc:
            raise _Refused(
                f"Mattermost refused to {what}: {_server_says(exc)}."
            ) from exc


class _Refused(ChatUnavailable):
    """The server answered, but with an error."""


class _NotFound(_Refused):
    """The server answered 404: the thing (or the whole API) is not there."""


def _run_handler(handler: MessageHandler, message: IncomingMessage) -> None:
    try:
        handler(message)
    except Exception:  # a bug in a handler must not stop the listener
        log.exception("Handling message %s failed.", message.post_id)


def _certificate_reason(exc: Exception) -> str:
    found = re.search(r"certificate verify failed: ([^(\"'\]]+)", str(exc))
    if found:
        return f"certificate verify failed: {found.group(1).strip()}"
    return "the TLS handshake failed"


def _connection_reason(exc: Exception) -> str:
    text = str(exc)
    if isinstance(exc, requests.Timeout):
        return "no answer before the timeout"
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "the host name is unknown"
    return "the connection failed"


def _server_says(exc: requests.HTTPError) -> str:
    if exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return str(exc) or "an error"
