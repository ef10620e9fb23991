"""A Mattermost-compatible test server: REST API v4 and its WebSocket, on one port.

Every request is checked against the official API reference
(tests.mattermost_reference); anything the reference does not define is refused
(501, or 400 for a bad body) and recorded in ``violations``, which the fixture
asserts empty. The server enforces the
real server's limits: message length, files per post, file size and image pixels.
It runs its own asyncio loop in a thread, so synchronous tests can drive it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import secrets
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, WSMsgType, web

from tests.mattermost_reference import ApiReference, load_reference

MAX_MESSAGE_CHARS = 16_383
MAX_FILES_PER_POST = 10
MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_IMAGE_PIXELS = 33_177_600
SERVER_VERSION = "9.11.0.test"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class User:
    """An account on the test server."""

    id: str
    username: str
    token: str
    is_bot: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "username": self.username,
            "email": "",
            "first_name": "",
            "last_name": "",
            "nickname": "",
            "roles": "system_user",
            "is_bot": self.is_bot,
            "locale": "en",
            "create_at": 0,
            "update_at": 0,
            "delete_at": 0,
        }


@dataclass
class StoredFile:
    """An uploaded file and where it ended up."""

    id: str
    name: str
    data: bytes
    channel_id: str
    user_id: str
    width: int = 0
    height: int = 0
    post_id: str = ""

    @property
    def mime_type(self) -> str:
        suffix = Path(self.name).suffix.lower()
        return {".png": "image/png", ".svg": "image/svg+xml"}.get(
            suffix, "application/octet-stream"
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "post_id": self.post_id,
            "channel_id": self.channel_id,
            "name": self.name,
            "extension": Path(self.name).suffix.lstrip("."),
            "size": len(self.data),
            "mime_type": self.mime_type,
            "width": self.width,
            "height": self.height,
            "has_preview_image": self.width > 0,
            "create_at": 0,
            "update_at": 0,
            "delete_at": 0,
        }


class ApiError(Exception):
    """An error answer, in the shape the real server gives."""

    def __init__(self, status: int, error_id: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_id = error_id
        self.message = message


@dataclass(eq=False)
class _Socket:
    ws: web.WebSocketResponse
    user: User
    seq: itertools.count = field(default_factory=itertools.count)

    async def send_event(
        self, event: str, data: dict[str, Any], channel_id: str = ""
    ) -> None:
        await self.ws.send_json(
            {
                "event": event,
                "data": data,
                "broadcast": {
                    "omit_users": None,
                    "user_id": "" if channel_id else self.user.id,
                    "channel_id": channel_id,
                    "team_id": "",
                },
                "seq": next(self.seq),
            }
        )


Handler = Callable[[web.Request, User | None, dict[str, str], Any], Awaitable[Any]]


class MattermostServer:
    """A strict, in-memory Mattermost: a team, channels, users, a bot, posts, files."""

    def __init__(
        self,
        *,
        cert_path: Path | None = None,
        key_path: Path | None = None,
        sub_path: str = "",
        max_file_bytes: int = MAX_FILE_BYTES,
        team_name: str = "collective",
        channel_names: tuple[str, ...] = ("town-square", "infra"),
        reference: ApiReference | None = None,
    ) -> None:
        self.sub_path = "/" + sub_path.strip("/") if sub_path.strip("/") else ""
        self.max_file_bytes = max_file_bytes
        self.reference = reference or load_reference()
        self.violations: list[str] = []
        self.requests_seen: list[str] = []
        self._ssl = _server_context(cert_path, key_path) if cert_path else None
        self._port = 0
        self._runner: web.AppRunner | None = None
        self._sockets: set[_Socket] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._create_world(team_name, channel_names)
        self._routes = self._route_table()

    # -- world -----------------------------------------------------------------

    def _create_world(self, team_name: str, channel_names: tuple[str, ...]) -> None:
        self.users: dict[str, User] = {}
        self.files: dict[str, StoredFile] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.team = {
            "id": _new_id(),
            "name": team_name,
            "display_name": team_name.title(),
            "type": "O",
            "create_at": 0,
            "update_at": 0,
            "delete_at": 0,
        }
        for name in channel_names:
            self._add_channel(name, "O", self.team["id"], members=None)
        self.bot = self.add_user("graphbot", is_bot=True)
        self.add_user("alice")
        self.add_user("bob")
        self.add_user("otherbot", is_bot=True)

    def add_user(self, username: str, *, is_bot: bool = False) -> User:
        """Create an account with its own access token."""
        user = User(_new_id(), username, secrets.token_hex(13), is_bot)
        self.users[user.id] = user
        return user

    def user(self, username: str) -> User:
        return next(u for u in self.users.values() if u.username == username)

    def _add_channel(
        self, name: str, kind: str, team_id: str, members: set[str] | None
    ) -> dict[str, Any]:
        channel = {
            "id": _new_id(),
            "name": name,
            "display_name": name.replace("-", " ").title(),
            "type": kind,
            "team_id": team_id,
            "header": "",
            "purpose": "",
            "create_at": 0,
            "update_at": 0,
            "delete_at": 0,
            "creator_id": "",
            "_members": members,
        }
        self.channels[channel["id"]] = channel
        return channel

    def channel(self, name_or_id: str) -> dict[str, Any]:
        """A channel of the team by name, or any channel by id."""
        if name_or_id in self.channels:
            return self.channels[name_or_id]
        for channel in self.channels.values():
            if channel["name"] == name_or_id and channel["type"] == "O":
                return channel
        raise KeyError(name_or_id)

    def direct_channel(self, one: User, other: User) -> str:
        """The id of the direct channel between two users, created on first use."""
        name = "__".join(sorted((one.id, other.id)))
        for channel in self.channels.values():
            if channel["name"] == name:
                return channel["id"]
        return self._add_channel(name, "D", "", {one.id, other.id})["id"]

    def _is_member(self, user: User, channel: dict[str, Any]) -> bool:
        return channel["_members"] is None or user.id in channel["_members"]

    # -- test helpers ----------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl else "http"
        return f"{scheme}://127.0.0.1:{self._port}{self.sub_path}"

    def user_posts(
        self,
        text: str,
        channel: str,
        as_user: User | str,
        root_id: str | None = None,
        *,
        create_at: int | None = None,
    ) -> dict[str, Any]:
        """Post as a person (or another bot) and push the ``posted`` event.

        ``create_at`` (ms) backdates the post, as if it had been made back then.
        """
        user = self.user(as_user) if isinstance(as_user, str) else as_user
        channel_id = self.channel(channel)["id"]
        return self._call(
            self._create_post(
                user, channel_id, text, root_id or "", [], create_at=create_at
            )
        )

    def add_post_without_event(
        self,
        text: str,
        channel: str,
        as_user: User | str,
        *,
        create_at: int | None = None,
    ) -> dict[str, Any]:
        """Store a post but push no event: a post the bot's WebSocket never saw.

        Works while the server is stopped, as if the post had been made on another
        node of the cluster during the restart.
        """
        user = self.user(as_user) if isinstance(as_user, str) else as_user
        channel_ = self._member_channel(user, self.channel(channel)["id"])

        async def store() -> dict[str, Any]:
            return self._store_post(user, channel_, text, "", [], {}, create_at)

        return self._call(store())

    def posts_in(self, channel: str) -> list[dict[str, Any]]:
        """The posts of a channel, oldest first."""
        channel_id = self.channel(channel)["id"]
        found = [p for p in self.posts.values() if p["channel_id"] == channel_id]
        return sorted(found, key=lambda p: p["create_at"])

    def files_of(self, post: dict[str, Any]) -> list[StoredFile]:
        """The files attached to a post, in order."""
        return [self.files[file_id] for file_id in post.get("file_ids", [])]

    def websocket_count(self) -> int:
        return len(self._sockets)

    def wait_for_websockets(self, count: int, timeout_seconds: float = 10) -> bool:
        """Wait until ``count`` authenticated WebSockets are connected."""
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if len(self._sockets) >= count:
                return True
            time.sleep(0.02)
        return False

    def take_violations(self) -> list[str]:
        """Return and forget the recorded violations (for tests that provoke one)."""
        found, self.violations[:] = list(self.violations), []
        return found

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._call(self._start())

    def stop(self) -> None:
        """Close every WebSocket and stop listening; the data stays, as in a restart."""
        self._call(self._stop())

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def _call(self, coroutine: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(
            timeout=30
        )

    async def _start(self) -> None:
        app = web.Application(client_max_size=self.max_file_bytes + 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        root = app
        if self.sub_path:
            root = web.Application(client_max_size=self.max_file_bytes + 1024 * 1024)
            root.add_subapp(self.sub_path, app)
        self._runner = web.AppRunner(root, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(
            self._runner,
            "127.0.0.1",
            self._port,
            ssl_context=self._ssl,
            reuse_address=True,
        )
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        for socket in list(self._sockets):
            await socket.ws.close(code=1001, message=b"server shutting down")
        self._sockets.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- request handling ------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len(self.sub_path) :]
        self.requests_seen.append(f"{request.method} {path}")
        try:
            if path == "/api/v4/websocket" and request.method == "GET":
                return await self._websocket(request)
            return await self._answer(request, path)
        except ApiError as error:
            return _json(
                error.status,
                {
                    "id": error.error_id,
                    "message": error.message,
                    "detailed_error": "",
                    "request_id": _new_id(),
                    "status_code": error.status,
                },
            )
        except Exception as exc:  # a bug in the test server fails the test, too
            self.violations.append(
                f"{request.method} {path}: test server error {exc!r}"
            )
            raise

    async def _answer(self, request: web.Request, path: str) -> web.Response:
        content_type, body = await _read_body(request)
        problems = self.reference.check(
            request.method, path, set(request.query), content_type, body
        )
        if problems:
            self.violations += problems
            undefined = not self.reference.find(request.method, path)
            raise ApiError(
                501 if undefined else 400, "test.reference", "; ".join(problems)
            )
        handler, params, needs_auth = self._route(request.method, path)
        if handler is None:
            self.violations.append(
                f"{request.method} {path}: not implemented by the test server"
            )
            raise ApiError(
                501, "test.not_implemented", "not implemented by the test server"
            )
        user = self._authenticate(request) if needs_auth else None
        status, payload = await handler(request, user, params, body)
        return _json(status, payload)

    def _route(
        self, method: str, path: str
    ) -> tuple[Handler | None, dict[str, str], bool]:
        for route_method, pattern, handler, needs_auth in self._routes:
            match = pattern.fullmatch(path)
            if route_method == method and match:
                return handler, match.groupdict(), needs_auth
        return None, {}, False

    def _authenticate(self, request: web.Request) -> User:
        header = request.headers.get("Authorization", "")
        token = (
            header.removeprefix("Bearer ").strip()
            if header.startswith("Bearer ")
            else ""
        )
        for user in self.users.values():
            if token and secrets.compare_digest(user.token, token):
                return user
        raise ApiError(
            401,
            "api.context.session_expired.app_error",
            "Invalid or expired session, please login again.",
        )

    def _route_table(self) -> list[tuple[str, re.Pattern[str], Handler, bool]]:
        table = [
            ("GET", "/api/v4/system/ping", self._ping, False),
            ("GET", "/api/v4/users/(?P<user_id>[^/]+)", self._get_user, True),
            ("GET", "/api/v4/teams/name/(?P<team>[^/]+)", self._get_team, True),
            ("GET", "/api/v4/teams/(?P<team>[^/]+)", self._get_team, True),
            (
                "GET",
                "/api/v4/teams/name/(?P<team>[^/]+)/channels/name/(?P<name>[^/]+)",
                self._get_channel_by_name,
                True,
            ),
            (
                "GET",
                "/api/v4/teams/(?P<team>[^/]+)/channels/name/(?P<name>[^/]+)",
                self._get_channel_by_name,
                True,
            ),
            ("GET", "/api/v4/channels/(?P<channel_id>[^/]+)", self._get_channel, True),
            (
                "GET",
                "/api/v4/users/(?P<user_id>[^/]+)/channels",
                self._channels_of_user,
                True,
            ),
            ("POST", "/api/v4/channels/direct", self._create_direct, True),
            (
                "GET",
                "/api/v4/channels/(?P<channel_id>[^/]+)/posts",
                self._channel_posts,
                True,
            ),
            ("POST", "/api/v4/posts", self._post, True),
            ("GET", "/api/v4/posts/(?P<post_id>[^/]+)", self._get_post, True),
            ("GET", "/api/v4/posts/(?P<post_id>[^/]+)/thread", self._thread, True),
            ("POST", "/api/v4/files", self._upload, True),
            ("GET", "/api/v4/files/(?P<file_id>[^/]+)/info", self._file_info, True),
        ]
        return [(m, re.compile(p), h, a) for m, p, h, a in table]

    # -- REST handlers ---------------------------------------------------------

    async def _ping(self, request, user, params, body) -> tuple[int, Any]:
        return 200, {"status": "OK", "ActiveSearchBackend": "database"}

    async def _get_user(self, request, user, params, body) -> tuple[int, Any]:
        wanted = (
            user if params["user_id"] == "me" else self.users.get(params["user_id"])
        )
        if wanted is None:
            raise ApiError(
                404, "app.user.missing_account.const", "Unable to find the user."
            )
        return 200, wanted.as_json()

    async def _get_team(self, request, user, params, body) -> tuple[int, Any]:
        if params["team"] not in (self.team["name"], self.team["id"]):
            raise ApiError(
                404,
                "app.team.get_by_name.missing.app_error",
                "Unable to find the existing team.",
            )
        return 200, self.team

    async def _get_channel_by_name(
        self, request, user, params, body
    ) -> tuple[int, Any]:
        await self._get_team(request, user, params, body)
        try:
            return 200, _public(self.channel(params["name"]))
        except KeyError:
            raise ApiError(
                404,
                "app.channel.get_by_name.missing.app_error",
                "Channel does not exist.",
            ) from None

    async def _get_channel(self, request, user, params, body) -> tuple[int, Any]:
        return 200, _public(self._member_channel(user, params["channel_id"]))

    async def _create_direct(self, request, user, params, body) -> tuple[int, Any]:
        if user.id not in body or any(uid not in self.users for uid in body):
            raise ApiError(
                400,
                "api.channel.create_direct_channel.invalid_user.app_error",
                "Invalid user ID for direct channel creation.",
            )
        one, other = (self.users[uid] for uid in body)
        return 201, _public(self.channels[self.direct_channel(one, other)])

    async def _channels_of_user(self, request, user, params, body) -> tuple[int, Any]:
        if params["user_id"] not in ("me", user.id):
            raise ApiError(
                403,
                "api.context.permissions.app_error",
                "You do not have the appropriate permissions.",
            )
        found = [c for c in self.channels.values() if self._is_member(user, c)]
        return 200, [_public(c) for c in found]

    async def _channel_posts(self, request, user, params, body) -> tuple[int, Any]:
        channel = self._member_channel(user, params["channel_id"])
        posts = self.posts_in(channel["id"])
        if "since" in request.query:
            posts = self._posts_changed_since(request.query, posts)
        return 200, {
            "order": [p["id"] for p in reversed(posts)],
            "posts": {p["id"]: p for p in posts},
        }

    def _posts_changed_since(
        self, query: Any, posts: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        # As the real server: posts changed (created, edited, deleted) after the
        # time, at most 1000, and no paging alongside.
        if {"before", "after", "page", "per_page"} & set(query):
            raise ApiError(
                400,
                "api.context.invalid_url_param.app_error",
                "since must not be used with before, after, page or per_page.",
            )
        try:
            since = int(query["since"])
        except ValueError:
            raise ApiError(
                400, "api.context.invalid_url_param.app_error", "Invalid since."
            ) from None
        return [p for p in posts if p["update_at"] > since][:1000]

    async def _post(self, request, user, params, body) -> tuple[int, Any]:
        post = await self._create_post(
            user,
            body["channel_id"],
            body["message"],
            body.get("root_id", ""),
            body.get("file_ids", []),
            body.get("props", {}),
        )
        return 201, post

    async def _get_post(self, request, user, params, body) -> tuple[int, Any]:
        post = self.posts.get(params["post_id"])
        if post is None:
            raise ApiError(404, "app.post.get.app_error", "Unable to get the post.")
        return 200, post

    async def _thread(self, request, user, params, body) -> tuple[int, Any]:
        _, root = await self._get_post(request, user, params, body)
        posts = [
            p for p in self.posts.values() if root["id"] in (p["id"], p["root_id"])
        ]
        return 200, {
            "order": [p["id"] for p in posts],
            "posts": {p["id"]: p for p in posts},
        }

    async def _upload(self, request, user, params, body) -> tuple[int, Any]:
        channel = self._member_channel(user, body.get("channel_id", ""))
        infos = []
        for name, data in body.get("_files", []):
            stored = self._store_file(user, channel["id"], name, data)
            infos.append(stored.as_json())
        if not infos:
            raise ApiError(
                400,
                "api.file.upload_file.incorrect_number_of_files.app_error",
                "Unable to upload files. Incorrect number of files specified.",
            )
        return 201, {"file_infos": infos, "client_ids": []}

    async def _file_info(self, request, user, params, body) -> tuple[int, Any]:
        stored = self.files.get(params["file_id"])
        if stored is None:
            raise ApiError(
                404, "app.file_info.get.app_error", "Unable to get the file info."
            )
        return 200, stored.as_json()

    # -- rules of the real server ----------------------------------------------

    def _member_channel(self, user: User, channel_id: str) -> dict[str, Any]:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise ApiError(
                404,
                "app.channel.get.existing.app_error",
                "Unable to find the existing channel.",
            )
        if not self._is_member(user, channel):
            raise ApiError(
                403,
                "api.context.permissions.app_error",
                "You do not have the appropriate permissions.",
            )
        return channel

    def _store_file(
        self, user: User, channel_id: str, name: str, data: bytes
    ) -> StoredFile:
        if len(data) > self.max_file_bytes:
            raise ApiError(
                413,
                "api.file.upload_file.too_large_detailed.app_error",
                f"Unable to upload file {name}. File is too large.",
            )
        width, height = _png_size(data)
        if width * height > MAX_IMAGE_PIXELS:
            raise ApiError(
                400,
                "app.upload.upload_data.large_image.app_error",
                f"{name} dimensions ({width} by {height} pixels) exceed the limits.",
            )
        stored = StoredFile(_new_id(), name, data, channel_id, user.id, width, height)
        self.files[stored.id] = stored
        return stored

    async def _create_post(
        self,
        user: User,
        channel_id: str,
        message: str,
        root_id: str,
        file_ids: list[str],
        props: dict[str, Any] | None = None,
        create_at: int | None = None,
    ) -> dict[str, Any]:
        channel = self._member_channel(user, channel_id)
        if len(message) > MAX_MESSAGE_CHARS:
            raise ApiError(400, "model.post.is_valid.msg.app_error", "Invalid Message.")
        if len(file_ids) > MAX_FILES_PER_POST:
            raise ApiError(
                400, "model.post.is_valid.file_ids.app_error", "Invalid file ids."
            )
        if root_id and self.posts.get(root_id, {}).get("channel_id") != channel_id:
            raise ApiError(
                400,
                "api.post.create_post.root_id.app_error",
                "Invalid RootId parameter.",
            )
        for file_id in file_ids:
            stored = self.files.get(file_id)
            if stored is None or stored.post_id or stored.user_id != user.id:
                raise ApiError(
                    400, "api.post.create_post.file_ids.app_error", "Invalid file ids."
                )
        post = self._store_post(
            user, channel, message, root_id, file_ids, props or {}, create_at
        )
        await self._broadcast_posted(user, channel, post)
        return post

    def _store_post(
        self, user, channel, message, root_id, file_ids, props, create_at=None
    ) -> dict[str, Any]:
        now = int(time.time() * 1000) + len(self.posts)  # keeps creation order strict
        if create_at is not None:
            now = create_at
        props = dict(props)
        if user.is_bot:
            props["from_bot"] = "true"
        post = {
            "id": _new_id(),
            "create_at": now,
            "update_at": now,
            "edit_at": 0,
            "delete_at": 0,
            "is_pinned": False,
            "user_id": user.id,
            "channel_id": channel["id"],
            "root_id": root_id,
            "original_id": "",
            "message": message,
            "type": "",
            "props": props,
            "hashtags": "",
            "pending_post_id": "",
            "reply_count": 0,
            "file_ids": list(file_ids),
            "metadata": {},
        }
        for file_id in file_ids:
            self.files[file_id].post_id = post["id"]
        self.posts[post["id"]] = post
        return post

    async def _broadcast_posted(
        self, user: User, channel: dict[str, Any], post: dict[str, Any]
    ) -> None:
        mentions = self._mentions(user, channel, post["message"])
        data: dict[str, Any] = {
            "channel_display_name": channel["display_name"],
            "channel_name": channel["name"],
            "channel_type": channel["type"],
            "post": json.dumps(post),
            "sender_name": f"@{user.username}",
            "set_online": True,
            "team_id": channel["team_id"],
        }
        if mentions:
            data["mentions"] = json.dumps(mentions)
        for socket in list(self._sockets):
            if self._is_member(socket.user, channel):
                await socket.send_event("posted", data, channel["id"])

    def _mentions(
        self, author: User, channel: dict[str, Any], message: str
    ) -> list[str]:
        names = {
            n.rstrip(".").lower() for n in re.findall(r"@([A-Za-z0-9._-]+)", message)
        }
        mentioned = [
            u.id
            for u in self.users.values()
            if u.username in names and u.id != author.id and self._is_member(u, channel)
        ]
        if (
            channel["type"] == "D"
        ):  # the other person in a direct channel is always notified
            mentioned = [uid for uid in channel["_members"] if uid != author.id]
        return mentioned

    # -- WebSocket -------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        user = await self._challenge(ws)
        if user is None:
            await ws.close()
            return ws
        socket = _Socket(ws, user)
        self._sockets.add(socket)
        try:
            await socket.send_event("hello", {"server_version": SERVER_VERSION})
            async for message in ws:
                if message.type == WSMsgType.ERROR:
                    break
        finally:
            self._sockets.discard(socket)
        return ws

    async def _challenge(self, ws: web.WebSocketResponse) -> User | None:
        try:
            message = await asyncio.wait_for(ws.receive(), timeout=10)
            request = json.loads(message.data)
        except (TimeoutError, TypeError, ValueError):
            self.violations.append("websocket: no authentication challenge received")
            return None
        if request.get("action") != "authentication_challenge" or "seq" not in request:
            self.violations.append(
                f"websocket: expected authentication_challenge, got {request!r}"
            )
            return None
        token = str(request.get("data", {}).get("token", ""))
        user = next(
            (u for u in self.users.values() if token and u.token == token), None
        )
        status = "OK" if user else "FAIL"
        await ws.send_json({"status": status, "seq_reply": request["seq"]})
        return user


async def _read_body(request: web.Request) -> tuple[str, Any]:
    content_type = request.content_type
    if content_type.startswith("multipart/"):
        fields: dict[str, Any] = {}
        files: list[tuple[str, bytes]] = []
        async for part in await request.multipart():
            if not isinstance(part, BodyPartReader):
                raise ApiError(
                    400, "api.context.invalid_body_param.app_error", "nested"
                )
            data = bytes(await part.read())
            if part.filename:
                files.append((part.filename, data))
                fields[part.name or ""] = "<binary>"
            else:
                fields[part.name or ""] = data.decode()
        return content_type, _MultipartBody(fields, files)
    raw = await request.read()
    if not raw:
        return content_type, None
    try:
        return content_type, json.loads(raw)
    except ValueError:
        raise ApiError(
            400,
            "api.context.invalid_body_param.app_error",
            "The request body is not JSON.",
        ) from None


class _MultipartBody(dict):
    """Multipart fields as the reference sees them, with the uploaded files aside."""

    def __init__(self, fields: dict[str, Any], files: list[tuple[str, bytes]]) -> None:
        super().__init__(fields)
        self.files = files

    def get(self, key: str, default: Any = None) -> Any:
        return self.files if key == "_files" else super().get(key, default)


def _json(status: int, payload: Any) -> web.Response:
    # The driver only decodes answers whose Content-Type is exactly application/json,
    # as the real server sends it.
    return web.Response(
        status=status,
        body=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
    )


def _public(channel: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in channel.items() if not k.startswith("_")}


def _png_size(data: bytes) -> tuple[int, int]:
    # Only PNG is measured: graphbot uploads PNG and SVG; the real server also
    # measures JPEG and GIF.
    if data[:8] != _PNG_SIGNATURE or data[12:16] != b"IHDR":
        return 0, 0
    return struct.unpack(">II", data[16:24])


def _new_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(26))


def _server_context(cert_path: Path, key_path: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context
