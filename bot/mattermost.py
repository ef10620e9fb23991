"""Mattermost: connect, listen for mentions and direct messages, post with files.

The only importer of mattermostdriver, requests and websockets; nothing above this
module sees a driver answer or a library exception. mattermostdriver 7.3.2 builds its
WebSocket TLS context for the server side, so ``wss://`` fails on Python 3.10+: the
driver serves the REST API only and this module owns the WebSocket connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import ssl
import struct
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from mattermostdriver import Driver
from mattermostdriver import exceptions as driver_errors
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from bot.errors import ChatUnavailable, InvalidSettings
from bot.settings import MattermostSettings

log = logging.getLogger(__name__)

# websockets logs every frame at DEBUG, the authentication challenge and its token
# included, so its logger for our connection is pinned above DEBUG.
_socket_log = logging.getLogger(f"{__name__}.websocket")
_socket_log.setLevel(logging.INFO)

# The real server's defaults (Mattermost 9): longer posts, more files per post,
# larger files or images of more pixels are refused with HTTP 400 or 413.
MAX_MESSAGE_CHARS = 16_383
MAX_FILES_PER_POST = 10
DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_IMAGE_PIXELS = 33_177_600
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")

MessageHandler = Callable[["IncomingMessage"], None]
_CONNECTION_ERRORS = (OSError, TimeoutError, WebSocketException)


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
    return ServerAddress(parts.scheme, parts.hostname, port or default_port, base_path)


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
        self._listener: _EventListener | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._reconnect_max_seconds = reconnect_max_seconds
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
        attachments, notes = self.fit_attachments(files)
        text = "\n\n".join(part for part in (message, *notes) if part)
        pieces = split_message(text)
        batches = [
            attachments[start : start + MAX_FILES_PER_POST]
            for start in range(0, len(attachments), MAX_FILES_PER_POST)
        ]
        post_ids = []
        for index, piece in enumerate(pieces):
            is_last = index == len(pieces) - 1
            batch = batches[0] if is_last and batches else []
            post_ids.append(self._create_post(channel_id, piece, root_id, batch))
        for number, batch in enumerate(batches[1:], start=1):
            first = number * MAX_FILES_PER_POST + 1
            caption = (
                f"Attachments {first}–{first + len(batch) - 1} of {len(attachments)}."
            )
            post_ids.append(self._create_post(channel_id, caption, root_id, batch))
        return post_ids

    def fit_attachments(self, files: Sequence[Path]) -> tuple[list[Path], list[str]]:
        """Keep the files the server accepts; replace or drop the others, noting it."""
        kept: list[Path] = []
        notes: list[str] = []
        for path in files:
            problem = self._refusal(path)
            if problem is None:
                kept.append(path)
                continue
            twin = path.with_suffix(".svg")
            if (
                path.suffix.lower() != ".svg"
                and twin.is_file()
                and not self._refusal(twin)
            ):
                kept.append(twin)
                notes.append(
                    f"{path.name} {problem}, so {twin.name} is attached instead."
                )
            else:
                notes.append(f"{path.name} {problem}, so it was left out.")
            log.warning("Attachment %s %s.", path.name, problem)
        unique = list(dict.fromkeys(kept))
        return unique, notes

    def _refusal(self, path: Path) -> str | None:
        try:
            size = path.stat().st_size
            width, height = _png_size(path)
        except OSError:
            return "could not be read"
        if size > self.max_file_bytes:
            return (
                f"is {_mebibytes(size)}, above the server's file limit of "
                f"{_mebibytes(self.max_file_bytes)}"
            )
        if width * height > MAX_IMAGE_PIXELS:
            return (
                f"is {width}×{height} pixels, above the server's limit of "
                f"{MAX_IMAGE_PIXELS:,} pixels"
            )
        return None

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
        context = None
        if self.address.scheme == "https":
            ca_file = self._settings.ca_file
            context = ssl.create_default_context(
                cafile=str(ca_file) if ca_file else None
            )
        self._listener = _EventListener(
            self.address,
            self._token,
            context,
            lambda event: self._on_event(event, handler),
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
        message = read_posted_event(event, self.bot_user_id)
        if message is None or self._executor is None:
            return
        log.debug(
            "Message %s from @%s in %s.",
            message.post_id,
            message.user_name,
            message.channel_id,
        )
        self._executor.submit(_run_handler, handler, message)

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
                "create a new token for the bot account and set mattermost.token."
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


class _EventListener:
    """The WebSocket connection in its own thread and event loop, reconnecting."""

    def __init__(
        self,
        address: ServerAddress,
        token: str,
        context: ssl.SSLContext | None,
        on_event: Callable[[dict[str, Any]], None],
        max_delay_seconds: float,
    ) -> None:
        self.is_listening = threading.Event()
        self._address = address
        self._token = token
        self._context = context
        self._on_event = on_event
        self._max_delay_seconds = max_delay_seconds
        self._loop = asyncio.new_event_loop()
        self._stopping = asyncio.Event()
        self._thread = threading.Thread(
            target=self._main, name="mattermost-websocket", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout=15)
        if not self._thread.is_alive():
            self._loop.close()

    def _main(self) -> None:
        self._loop.run_until_complete(self._run())

    async def _run(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            session = asyncio.create_task(self._listen_once())
            stopper = asyncio.create_task(self._stopping.wait())
            await asyncio.wait({session, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if self._stopping.is_set():
                session.cancel()
                await asyncio.gather(session, return_exceptions=True)
                break
            if self.is_listening.is_set():
                delay = 1.0
            self.is_listening.clear()
            self._report(session.exception(), delay)
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, self._max_delay_seconds)
        self.is_listening.clear()

    async def _listen_once(self) -> None:
        async with connect(
            self._address.websocket_url,
            ssl=self._context,
            open_timeout=15,
            max_size=16 * 1024 * 1024,
            logger=_socket_log,
        ) as websocket:
            await websocket.send(
                json.dumps(
                    {
                        "seq": 1,
                        "action": "authentication_challenge",
                        "data": {"token": self._token},
                    }
                )
            )
            await self._receive(websocket)

    async def _receive(self, websocket: ClientConnection) -> None:
        # Posts made while the connection was down are not fetched afterwards, so a
        # mention sent during a server restart goes unanswered; the sender must ask
        # again.
        async for raw in websocket:
            event = json.loads(raw)
            if event.get("seq_reply") == 1 and event.get("status") != "OK":
                raise _TokenRefused()
            if event.get("event") == "hello":
                self.is_listening.set()
                log.info("Listening to Mattermost events at %s.", self._address.url)
            elif "event" in event:
                self._on_event(event)

    def _report(self, error: BaseException | None, delay: float) -> None:
        where = self._address.url
        if isinstance(error, ssl.SSLCertVerificationError):
            log.error(
                "The Mattermost WebSocket at %s was refused: %s. Set "
                "mattermost.ca_file if the server's certificate comes from a private "
                "CA; retrying in %.0f s.",
                where,
                error.verify_message,
                delay,
            )
        elif isinstance(error, _TokenRefused):
            log.error(
                "Mattermost at %s refused the bot's token on the WebSocket; "
                "retrying in %.0f s.",
                where,
                delay,
            )
        elif error is None or isinstance(error, _CONNECTION_ERRORS):
            log.warning(
                "The Mattermost WebSocket at %s is down (%s); reconnecting in %.0f s.",
                where,
                _socket_reason(error),
                delay,
            )
        else:  # a bug, not the network: logged with its traceback
            log.error(
                "Reading Mattermost events failed; reconnecting in %.0f s.",
                delay,
                exc_info=error,
            )


class _TokenRefused(Exception):
    """The server answered the authentication challenge with a failure."""


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
    is_from_bot = str(post.get("props", {}).get("from_bot", "")).lower() == "true"
    if post.get("user_id") == bot_user_id or is_from_bot or post.get("type"):
        return None
    channel_type = data.get("channel_type", "")
    message = IncomingMessage(
        post_id=post["id"],
        root_id=post.get("root_id", ""),
        channel_id=post["channel_id"],
        channel_type=channel_type,
        user_id=post["user_id"],
        user_name=data.get("sender_name", "").lstrip("@"),
        text=post.get("message", ""),
        is_direct=channel_type == "D",
        mentions_bot=bot_user_id in mentions,
    )
    return message if message.is_direct or message.mentions_bot else None


def split_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> list[str]:
    """Cut text at line ends into pieces of at most ``limit`` characters.

    A code block cut in two is closed and reopened, and a table cut in two repeats
    its header, so each piece renders on its own.
    """
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current: list[str] = []
    carried = 0
    fence = ""
    header: list[str] = []
    for line in _cut_long_lines(text.split("\n"), limit // 2):
        next_fence = _next_fence(fence, line)
        closing = len(_fence_marker(next_fence)) + 1 if next_fence else 0
        if len(current) > carried and _joined_length(current, line) + closing > limit:
            pieces.append(_close(current, fence))
            repeat = header if header and _is_table_row(line) and not fence else []
            current = ([fence] if fence else []) + repeat
            carried = len(current)
        current.append(line)
        header = _next_header(header, current, fence)
        fence = next_fence
    pieces.append("\n".join(current))
    return [p[i : i + limit] for p in pieces for i in range(0, max(len(p), 1), limit)]


def _cut_long_lines(lines: list[str], width: int) -> list[str]:
    cut: list[str] = []
    for line in lines:
        while len(line) > width:
            space = line.rfind(" ", width // 2, width)
            end = space if space > 0 else width
            cut.append(line[:end])
            line = line[end:].lstrip(" ") if space > 0 else line[end:]
        cut.append(line)
    return cut


def _next_fence(fence: str, line: str) -> str:
    stripped = line.strip()
    if not fence:
        return stripped if stripped.startswith(("```", "~~~")) else ""
    marker = _fence_marker(fence)
    is_closing = stripped.startswith(marker) and not stripped[len(marker) :].strip("`~")
    return "" if is_closing else fence


def _fence_marker(fence: str) -> str:
    return fence[: len(fence) - len(fence.lstrip("`~"))]


def _close(lines: list[str], fence: str) -> str:
    text = "\n".join(lines)
    return f"{text}\n{_fence_marker(fence)}" if fence else text


def _joined_length(lines: list[str], line: str) -> int:
    return sum(len(item) + 1 for item in lines) + len(line)


def _is_table_row(line: str) -> bool:
    return line.lstrip().startswith("|")


def _next_header(header: list[str], lines: list[str], fence: str) -> list[str]:
    line = lines[-1]
    if fence or not _is_table_row(line):
        return []
    if len(lines) >= 2 and _TABLE_SEPARATOR.match(line) and _is_table_row(lines[-2]):
        return [lines[-2], line]
    return header


def _run_handler(handler: MessageHandler, message: IncomingMessage) -> None:
    try:
        handler(message)
    except Exception:  # a bug in a handler must not stop the listener
        log.exception("Handling message %s failed.", message.post_id)


def _png_size(path: Path) -> tuple[int, int]:
    with path.open("rb") as image:
        head = image.read(24)
    if head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return 0, 0
    return struct.unpack(">II", head[16:24])


def _mebibytes(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


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


def _socket_reason(error: BaseException | None) -> str:
    if error is None:
        return "the server closed the connection"
    if isinstance(error, InvalidStatus):
        return f"HTTP {error.response.status_code} on the upgrade"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return str(error) or type(error).__name__
