"""The Mattermost client against a strict, API-compatible test server."""

from __future__ import annotations

import http.server
import logging
import queue
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bot.catch_up import SeenPosts, newest_per_channel, read_missed_posts
from bot.chat_limits import MAX_MESSAGE_CHARS, split_message
from bot.chat_protocol import IncomingMessage, mentions_user, parse_server_url
from bot.errors import ChatUnavailable, InvalidSettings
from bot.mattermost import ChatClient
from bot.settings import MattermostSettings
from tests.certs import issue, make_ca
from tests.mattermost_server import MattermostServer

TIMEOUT = 15


@pytest.fixture
def new_server() -> Iterator[Callable[..., MattermostServer]]:
    """Start test servers on demand; each must end with no reference violation."""
    servers: list[MattermostServer] = []

    def start(**options: Any) -> MattermostServer:
        server = MattermostServer(**options)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
    for server in servers:
        assert server.violations == []


@pytest.fixture
def server(new_server: Callable[..., MattermostServer]) -> MattermostServer:
    return new_server()


@pytest.fixture
def new_client() -> Iterator[Callable[..., ChatClient]]:
    """Connected clients for a server, closed at the end of the test."""
    clients: list[ChatClient] = []

    def connect(
        server: MattermostServer,
        *,
        url: str | None = None,
        ca_file: Path | None = None,
        **options: object,
    ) -> ChatClient:
        settings = MattermostSettings(
            url=url or server.url,
            token=server.bot.token,
            team="collective",
            channel="infra",
            ca_file=ca_file,
        )
        client = ChatClient(settings, reconnect_max_seconds=1, **options)
        clients.append(client)
        client.connect()
        return client

    yield connect
    for client in clients:
        client.close()


def _listen(client: ChatClient) -> queue.Queue[IncomingMessage]:
    received: queue.Queue[IncomingMessage] = queue.Queue()
    client.listen(received.put)
    assert client.wait_until_listening(TIMEOUT)
    return received


def _wait_for_log(caplog: Any, text: str, count: int) -> list[str]:
    """The messages of log records containing ``text``, once there are ``count``."""
    deadline = time.monotonic() + TIMEOUT
    found: list[str] = []
    while time.monotonic() < deadline and len(found) < count:
        time.sleep(0.02)
        found = [r.getMessage() for r in caplog.records if text in r.getMessage()]
    return found


def _minutes_ago(minutes: int) -> int:
    return int(time.time() * 1000) - minutes * 60_000


def _write_png(path: Path, width: int, height: int) -> Path:
    """A valid black-and-white PNG of any size, small on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes((width + 7) // 8)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    pixels = zlib.compress(row * height, 9)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )
    return path


def _write_svg(path: Path) -> Path:
    path.write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>\n'
    )
    return path


# -- connecting ----------------------------------------------------------------


def test_client_logs_in_and_resolves_the_configured_channel(server, new_client):
    client = new_client(server)

    assert client.bot_user_id == server.bot.id
    assert client.channel_id == server.channel("infra")["id"]
    assert (
        client.channel_id_by_name("town-square") == server.channel("town-square")["id"]
    )


def test_unknown_channel_is_named_in_the_error(server, new_client):
    client = new_client(server)

    with pytest.raises(ChatUnavailable, match='"ops".*add the bot'):
        client.channel_id_by_name("ops")


def test_wrong_token_is_refused_with_a_clear_sentence(server):
    settings = MattermostSettings(
        url=server.url, token="not-the-token", team="collective", channel="infra"
    )

    with pytest.raises(ChatUnavailable, match="refused the bot's access token"):
        ChatClient(settings).connect()


def test_server_under_a_sub_path_is_reached_with_or_without_trailing_slash(
    new_server, new_client
):
    server = new_server(sub_path="/chat")

    client = new_client(server, url=f"{server.url}/")
    received = _listen(client)
    server.user_posts("@graphbot help", "infra", "alice")

    assert server.url.endswith("/chat")
    assert received.get(timeout=TIMEOUT).text == "@graphbot help"


def test_sub_path_left_out_of_the_url_is_reported_as_not_mattermost(
    new_server, new_client
):
    server = new_server(sub_path="/chat")
    root_url = server.url.removesuffix("/chat")

    with pytest.raises(ChatUnavailable, match="does not answer like a Mattermost"):
        new_client(server, url=root_url)


def test_web_server_that_is_not_mattermost_gives_one_clear_error(new_client):
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html><body>Welcome to our homepage</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    settings = MattermostSettings(
        url=f"http://127.0.0.1:{web.server_address[1]}",
        token="t",
        team="t",
        channel="c",
    )
    try:
        with pytest.raises(ChatUnavailable) as caught:
            ChatClient(settings).connect()
    finally:
        web.shutdown()
        web.server_close()

    assert "does not answer like a Mattermost server" in str(caught.value)
    assert "check mattermost.url" in str(caught.value)


def test_server_that_is_down_is_reported_as_unreachable(server):
    url = server.url
    server.stop()
    settings = MattermostSettings(url=url, token="t", team="t", channel="c")

    with pytest.raises(ChatUnavailable, match="cannot be reached.*connection refused"):
        ChatClient(settings).connect()


@pytest.mark.parametrize(
    ("written", "url", "websocket_url"),
    [
        (
            "https://chat.example.org",
            "https://chat.example.org",
            "wss://chat.example.org:443/api/v4/websocket",
        ),
        (
            "https://chat.example.org/",
            "https://chat.example.org",
            "wss://chat.example.org:443/api/v4/websocket",
        ),
        (
            "chat.example.org:8065",
            "https://chat.example.org:8065",
            "wss://chat.example.org:8065/api/v4/websocket",
        ),
        (
            "http://example.org:8080/team/chat/",
            "http://example.org:8080/team/chat",
            "ws://example.org:8080/team/chat/api/v4/websocket",
        ),
        (
            "https://[::1]:8443/chat",
            "https://[::1]:8443/chat",
            "wss://[::1]:8443/chat/api/v4/websocket",
        ),
    ],
)
def test_server_url_is_read_the_way_people_write_it(written, url, websocket_url):
    address = parse_server_url(written)

    assert (address.url, address.websocket_url) == (url, websocket_url)


@pytest.mark.parametrize("written", ["", "ftp://chat.example.org", "https://"])
def test_server_url_that_is_no_web_address_names_the_key(written):
    with pytest.raises(InvalidSettings, match="mattermost.url"):
        parse_server_url(written)


# -- TLS -----------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path, new_server) -> tuple[MattermostServer, Path]:
    ca = make_ca(tmp_path / "ca")
    cert = issue(
        ca,
        tmp_path / "server",
        "server",
        common_name="127.0.0.1",
        is_server=True,
        ip_addresses=("127.0.0.1",),
    )
    return new_server(cert_path=cert.cert_path, key_path=cert.key_path), ca.cert_path


def test_https_with_a_trusted_ca_file_works_for_rest_and_websocket(
    tls_server, new_client
):
    server, ca_file = tls_server

    client = new_client(server, ca_file=ca_file)
    received = _listen(client)
    server.user_posts("@graphbot status", "infra", "bob")

    assert server.url.startswith("https://")
    assert client.address.websocket_url.startswith("wss://")
    assert received.get(timeout=TIMEOUT).user_name == "bob"


def test_certificate_from_an_unknown_ca_is_refused_with_a_log_line(
    tls_server, tmp_path, new_client, caplog
):
    server, _ = tls_server
    other_ca = make_ca(tmp_path / "other", common_name="someone else's CA")

    with pytest.raises(ChatUnavailable, match="mattermost.ca_file") as caught:
        new_client(server, ca_file=other_ca.cert_path)
    with pytest.raises(ChatUnavailable):
        new_client(server)

    assert "certificate verify failed" in str(caught.value)
    refusals = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(refusals) == 2 and "refused over TLS" in refusals[0].getMessage()
    assert server.requests_seen == []


# -- listening -----------------------------------------------------------------


def test_mention_in_a_channel_reaches_the_handler(server, new_client):
    client = new_client(server)
    received = _listen(client)

    post = server.user_posts("@graphbot where is etherpad", "infra", "alice")

    message = received.get(timeout=TIMEOUT)
    assert message.post_id == post["id"] and message.thread_id == post["id"]
    assert (message.user_name, message.text) == ("alice", "@graphbot where is etherpad")
    assert message.mentions_bot and not message.is_direct
    assert message.channel_id == client.channel_id and message.channel_type == "O"


def test_reply_in_a_thread_keeps_the_thread_root(server, new_client):
    client = new_client(server)
    received = _listen(client)
    root = server.user_posts("deploy done", "infra", "alice")

    server.user_posts("@graphbot status", "infra", "bob", root_id=root["id"])

    assert received.get(timeout=TIMEOUT).thread_id == root["id"]


def test_direct_message_reaches_the_handler_without_a_mention(server, new_client):
    client = new_client(server)
    received = _listen(client)
    alice = server.user("alice")
    channel_id = server.direct_channel(alice, server.bot)

    server.user_posts("status", channel_id, alice)

    message = received.get(timeout=TIMEOUT)
    assert message.is_direct and message.text == "status"
    assert message.channel_id == channel_id


def test_own_posts_other_bots_and_unaddressed_posts_are_ignored(server, new_client):
    client = new_client(server)
    received = _listen(client)

    client.post(client.channel_id, "@graphbot I talk to myself")
    server.user_posts("@graphbot hello from another bot", "infra", "otherbot")
    server.user_posts("lunch, anyone?", "infra", "alice")
    last = server.user_posts("@graphbot help", "infra", "bob")

    assert received.get(timeout=TIMEOUT).post_id == last["id"]
    assert received.empty()


def test_client_reconnects_after_a_server_restart_and_answers_again(
    server, new_client, caplog
):
    client = new_client(server)
    received = _listen(client)
    caplog.set_level(logging.WARNING, logger="bot.chat_socket")

    server.restart()
    assert server.wait_for_websockets(1, timeout_seconds=TIMEOUT)
    post = server.user_posts("@graphbot are you back?", "infra", "alice")

    assert received.get(timeout=TIMEOUT).post_id == post["id"]
    assert any("reconnecting" in r.getMessage() for r in caplog.records)
    reply = client.post(client.channel_id, "I am back.", root_id=post["id"])
    assert server.posts_in("infra")[-1]["id"] == reply[0]


def test_mention_made_while_the_server_was_down_is_answered_once_it_is_back(
    server, new_client, caplog
):
    """Posts missed during a restart are fetched: mentions and direct messages only."""
    client = new_client(server)
    received = _listen(client)
    caplog.set_level(logging.INFO, logger="bot.mattermost")
    alice, bob = server.user("alice"), server.user("bob")
    direct = server.direct_channel(bob, server.bot)

    server.stop()
    mention = server.add_post_without_event("@graphbot where is pad", "infra", alice)
    server.add_post_without_event("lunch, anyone?", "infra", alice)
    server.add_post_without_event("@graphbot hi from a bot", "town-square", "otherbot")
    dm = server.add_post_without_event("status", direct, bob)
    server.start()

    first, second = received.get(timeout=TIMEOUT), received.get(timeout=TIMEOUT)
    by_id = {m.post_id: m for m in (first, second)}
    assert set(by_id) == {mention["id"], dm["id"]}
    assert (by_id[mention["id"]].user_name, by_id[mention["id"]].text) == (
        "alice",
        "@graphbot where is pad",
    )
    assert by_id[mention["id"]].mentions_bot and by_id[dm["id"]].is_direct
    assert by_id[dm["id"]].user_name == "bob"
    caught_up = _wait_for_log(caplog, "Caught up after reconnecting", 1)
    assert caught_up[0].startswith("Caught up after reconnecting: 2 posts")


def test_caught_up_mention_is_not_answered_again_on_a_later_reconnect(
    server, new_client, caplog
):
    client = new_client(server)
    received = _listen(client)
    caplog.set_level(logging.INFO, logger="bot.mattermost")
    server.stop()
    mention = server.add_post_without_event("@graphbot status", "infra", "alice")
    server.start()
    assert received.get(timeout=TIMEOUT).post_id == mention["id"]
    assert len(_wait_for_log(caplog, "Caught up after reconnecting", 1)) == 1

    # The next catch-up starts at the newest post seen, this mention, so it fetches
    # the mention again; only its remembered id keeps it from a second answer.
    server.restart()
    caught_up = _wait_for_log(caplog, "Caught up after reconnecting", 2)

    assert len(caught_up) == 2
    assert caught_up[1].startswith("Caught up after reconnecting: 0 posts")
    assert received.empty()


def test_mention_older_than_an_hour_is_not_caught_up(server, new_client, caplog):
    client = new_client(server)
    received = _listen(client)
    caplog.set_level(logging.INFO, logger="bot.mattermost")
    server.user_posts("good night", "infra", "bob", create_at=_minutes_ago(180))
    server.stop()
    server.add_post_without_event(
        "@graphbot status", "infra", "alice", create_at=_minutes_ago(120)
    )
    recent = server.add_post_without_event(
        "@graphbot help", "infra", "alice", create_at=_minutes_ago(30)
    )

    server.start()

    assert received.get(timeout=TIMEOUT).post_id == recent["id"]
    assert len(_wait_for_log(caplog, "Caught up after reconnecting", 1)) == 1
    assert received.empty()


def test_token_never_reaches_the_log(server, new_client, caplog):
    caplog.set_level(logging.DEBUG)

    client = new_client(server)
    received = _listen(client)
    server.user_posts("@graphbot help", "infra", "alice")
    received.get(timeout=TIMEOUT)

    assert caplog.records
    assert all(server.bot.token not in r.getMessage() for r in caplog.records)


# -- posting -------------------------------------------------------------------


def test_post_with_png_attachments_shows_them_as_image_previews(
    server, new_client, tmp_path
):
    client = new_client(server)
    files = [_write_png(tmp_path / f"{n}.png", 640, 480) for n in ("merged", "legend")]

    post_ids = client.post(client.channel_id, "The fleet today.", files)

    post = server.posts_in("infra")[-1]
    assert post_ids == [post["id"]] and post["message"] == "The fleet today."
    stored = server.files_of(post)
    assert [(f.name, f.mime_type, f.width, f.height) for f in stored] == [
        ("merged.png", "image/png", 640, 480),
        ("legend.png", "image/png", 640, 480),
    ]


def test_reply_goes_into_the_thread(server, new_client):
    client = new_client(server)
    root = server.user_posts("@graphbot status", "infra", "alice")

    client.post(client.channel_id, "All hosts collected.", root_id=root["id"])

    assert server.posts_in("infra")[-1]["root_id"] == root["id"]


def test_twelve_files_go_out_as_two_posts_of_ten_and_two(server, new_client, tmp_path):
    client = new_client(server)
    files = [_write_png(tmp_path / f"host{n:02}.png", 20, 10) for n in range(12)]

    post_ids = client.post(client.channel_id, "Every host.", files)

    posts = server.posts_in("infra")
    assert [p["id"] for p in posts] == post_ids
    assert [len(server.files_of(p)) for p in posts] == [10, 2]
    assert posts[1]["message"] == "Attachments 11–12 of 12."
    names = [f.name for p in posts for f in server.files_of(p)]
    assert names == [f.name for f in files]


def test_long_message_is_split_into_posts_the_server_accepts(server, new_client):
    client = new_client(server)
    lines = [f"line {n}: " + "x" * 70 for n in range(600)]
    message = "Report\n```\n" + "\n".join(lines) + "\n```\nEnd."

    post_ids = client.post(client.channel_id, message)

    posts = server.posts_in("infra")
    assert len(post_ids) == len(posts) >= len(message) // MAX_MESSAGE_CHARS + 1
    assert all(len(p["message"]) <= MAX_MESSAGE_CHARS for p in posts)
    assert all(p["message"].count("```") % 2 == 0 for p in posts)
    sent_lines = [line for p in posts for line in p["message"].split("\n")]
    assert [line for line in sent_lines if line.startswith("line ")] == lines


def test_image_above_the_pixel_limit_is_replaced_by_its_svg_with_a_note(
    server, new_client, tmp_path
):
    client = new_client(server)
    huge = _write_png(tmp_path / "merged.png", 8000, 4200)
    _write_svg(tmp_path / "merged.svg")

    client.post(client.channel_id, "The fleet today.", [huge])

    post = server.posts_in("infra")[-1]
    assert [f.name for f in server.files_of(post)] == ["merged.svg"]
    assert "merged.png is 8000×4200 pixels" in post["message"]
    assert "so merged.svg is attached instead" in post["message"]


def test_image_above_the_pixel_limit_without_svg_is_left_out_with_a_note(
    server, new_client, tmp_path
):
    client = new_client(server)
    huge = _write_png(tmp_path / "merged.png", 8000, 4200)
    small = _write_png(tmp_path / "legend.png", 100, 100)

    client.post(client.channel_id, "The fleet today.", [huge, small])

    post = server.posts_in("infra")[-1]
    assert [f.name for f in server.files_of(post)] == ["legend.png"]
    assert "merged.png is 8000×4200 pixels" in post["message"]
    assert "so it was left out" in post["message"]


def test_file_above_the_size_limit_is_left_out_with_a_note(
    new_server, new_client, tmp_path
):
    server = new_server(max_file_bytes=4096)
    client = new_client(server, max_file_bytes=4096)
    big = tmp_path / "inventory.json"
    big.write_text("[" + "0," * 4000 + "0]")

    client.post(client.channel_id, "Snapshot.", [big])

    post = server.posts_in("infra")[-1]
    assert server.files_of(post) == []
    assert "inventory.json is 0.0 MiB, above the server's file limit" in post["message"]


# -- catching up ---------------------------------------------------------------


def _message(post_id: str, channel_id: str) -> IncomingMessage:
    return IncomingMessage(post_id, "", channel_id, "O", "u", "alice", "x", False, True)


@pytest.mark.parametrize(
    ("text", "is_mention"),
    [
        ("@graphbot help", True),
        ("thanks @GraphBot.", True),
        ("(@graphbot) status", True),
        ("@graphbot: where is pad", True),
        ("@graphbots help", False),
        ("@graphbot-dev help", False),
        ("mail me at x@graphbot", False),
        ("@channel status", False),
    ],
)
def test_mention_in_fetched_text_is_found_as_the_server_would(text, is_mention):
    assert mentions_user(text, "graphbot") is is_mention


def test_catch_up_starts_after_the_newest_post_but_at_most_an_hour_back():
    seen = SeenPosts()
    now_ms = 10 * 3_600_000
    seen.start_listening(now_ms - 60_000)
    before_any_post = seen.catch_up_since_ms(now_ms, 3600)

    seen.take_time(now_ms - 5_000)
    after_a_post = seen.catch_up_since_ms(now_ms, 3600)
    much_later = seen.catch_up_since_ms(now_ms + 5 * 3_600_000, 3600)

    assert before_any_post == now_ms - 60_001
    assert after_a_post == now_ms - 5_001
    assert much_later == now_ms + 4 * 3_600_000


def test_missed_posts_skip_handled_edited_and_unaddressed_ones():
    seen = SeenPosts()
    seen.take("handled")

    def post(post_id: str, create_at: int, message: str = "@graphbot help") -> dict:
        return {
            "id": post_id,
            "create_at": create_at,
            "update_at": 900,
            "channel_id": "c",
            "user_id": "alice-id",
            "message": message,
        }

    posts = [
        post("handled", 500),
        post("edited-old-one", 50),
        post("chatter", 600, "lunch?"),
        post("new", 700),
    ]
    post_list = {"order": [], "posts": {p["id"]: p for p in posts}}

    missed = read_missed_posts(post_list, "O", 100, seen, "bot-id", "graphbot")

    assert [m.post_id for m in missed] == ["new"]
    assert not seen.take("new")
    assert seen.catch_up_since_ms(1000, 3600) == 699


def test_catch_up_keeps_the_newest_posts_of_each_channel():
    messages = [_message(f"a{n}", "a") for n in range(5)] + [_message("b0", "b")]

    kept, cut = newest_per_channel(messages, 2)

    assert [m.post_id for m in kept] == ["a3", "a4", "b0"]
    assert cut == 3


def test_seen_posts_forget_the_oldest_beyond_their_bound():
    seen = SeenPosts(remembered=2)

    taken = [seen.take(post_id) for post_id in ("p1", "p2", "p3", "p1", "p3")]

    assert taken == [True, True, True, True, False]


# -- splitting -----------------------------------------------------------------


def test_short_message_is_one_piece():
    assert split_message("hello\nworld") == ["hello\nworld"]


def test_split_code_block_is_closed_and_reopened():
    text = "```text\n" + "\n".join(f"row {n}" for n in range(40)) + "\n```"

    pieces = split_message(text, limit=100)

    assert len(pieces) > 1
    assert all(len(p) <= 100 for p in pieces)
    assert all(p.startswith("```text\n") and p.endswith("\n```") for p in pieces)


def test_split_table_repeats_its_header_in_each_piece():
    header = "| Host | Running |\n|---|---|"
    text = "Status\n" + header + "\n" + "\n".join(f"| h{n} | {n} |" for n in range(30))

    pieces = split_message(text, limit=120)

    assert len(pieces) > 1
    assert all(header in p for p in pieces)
    rows = [line for p in pieces for line in p.split("\n") if line.startswith("| h")]
    assert rows == [f"| h{n} | {n} |" for n in range(30)]


def test_single_line_longer_than_a_post_is_cut_at_spaces():
    text = " ".join(["word"] * 100)

    pieces = split_message(text, limit=60)

    assert all(len(p) <= 60 for p in pieces)
    assert " ".join(pieces).split() == text.split()


# -- the test server itself ----------------------------------------------------


def test_test_server_rejects_a_request_the_reference_does_not_define(server):
    headers = {"Authorization": f"Bearer {server.bot.token}"}

    answer = requests.get(f"{server.url}/api/v4/graphbot/secret", headers=headers)
    unknown_field = requests.post(
        f"{server.url}/api/v4/posts",
        headers=headers,
        json={"channel_id": server.channel("infra")["id"], "message": "x", "colour": 1},
    )
    missing_field = requests.post(
        f"{server.url}/api/v4/posts", headers=headers, json={"message": "x"}
    )

    assert (answer.status_code, unknown_field.status_code) == (501, 400)
    assert missing_field.status_code == 400
    found = server.take_violations()
    assert "GET /api/v4/graphbot/secret is not in the Mattermost API reference" in found
    assert any("'colour', which the reference does not define" in v for v in found)
    assert any("lacks required field 'channel_id'" in v for v in found)


def test_test_server_enforces_the_real_limits(server, tmp_path):
    headers = {"Authorization": f"Bearer {server.bot.token}"}
    channel_id = server.channel("infra")["id"]
    huge = _write_png(tmp_path / "huge.png", 8000, 4200)

    with huge.open("rb") as content:
        upload = requests.post(
            f"{server.url}/api/v4/files",
            headers=headers,
            data={"channel_id": channel_id},
            files={"files": ("huge.png", content)},
        )
    too_long = requests.post(
        f"{server.url}/api/v4/posts",
        headers=headers,
        json={"channel_id": channel_id, "message": "x" * (MAX_MESSAGE_CHARS + 1)},
    )
    anonymous = requests.get(f"{server.url}/api/v4/users/me")

    assert (upload.status_code, too_long.status_code) == (400, 400)
    assert anonymous.status_code == 401
