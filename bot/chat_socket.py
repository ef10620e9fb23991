"""The Mattermost WebSocket: the bot's event stream, in its own thread, reconnecting.

The only importer of websockets. mattermostdriver 7.3.2 builds its WebSocket TLS
context for the server side, so ``wss://`` fails on Python 3.10+: the driver serves
the REST API only and this module owns the WebSocket connection. It hands each event
on as a plain dict; ``bot.mattermost`` reads it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from bot.chat_protocol import ServerAddress

log = logging.getLogger(__name__)

# websockets logs every frame at DEBUG, the authentication challenge and its token
# included, so its logger for our connection is pinned above DEBUG.
_socket_log = logging.getLogger(f"{__name__}.websocket")
_socket_log.setLevel(logging.INFO)

_CONNECTION_ERRORS = (OSError, TimeoutError, WebSocketException)


class EventListener:
    """The WebSocket connection in its own thread and event loop, reconnecting.

    ``on_open`` runs in the WebSocket thread on each server hello, before the next
    event is read; ``on_event`` runs there for every other event.
    """

    def __init__(
        self,
        address: ServerAddress,
        token: str,
        ca_file: Path | None,
        on_event: Callable[[dict[str, Any]], None],
        on_open: Callable[[], None],
        max_delay_seconds: float,
    ) -> None:
        self.is_listening = threading.Event()
        self._address = address
        self._token = token
        self._context = _tls_context(address, ca_file)
        self._on_event = on_event
        self._on_open = on_open
        self._max_delay_seconds = max_delay_seconds
        self._loop = asyncio.new_event_loop()
        self._stopping = asyncio.Event()
        self._thread = threading.Thread(
            target=self._main, name="mattermost-websocket", daemon=True
        )

    def start(self) -> None:
        """Open the connection in the background; ``is_listening`` tells when."""
        self._thread.start()

    def stop(self) -> None:
        """Close the connection and wait (up to 15 s) for its thread to end."""
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
        async for raw in websocket:
            event = json.loads(raw)
            if event.get("seq_reply") == 1 and event.get("status") != "OK":
                raise _TokenRefused()
            if event.get("event") == "hello":
                self._on_open()
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


def _tls_context(address: ServerAddress, ca_file: Path | None) -> ssl.SSLContext | None:
    if address.scheme != "https":
        return None
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


class _TokenRefused(Exception):
    """The server answered the authentication challenge with a failure."""


def _socket_reason(error: BaseException | None) -> str:
    if error is None:
        return "the server closed the connection"
    if isinstance(error, InvalidStatus):
        return f"HTTP {error.response.status_code} on the upgrade"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return str(error) or type(error).__name__
