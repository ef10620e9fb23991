"""Fit a message and its files to Mattermost's limits: split text, check files.

No network and no chat library: files are only looked at (size, PNG header), so
the limits are tested with plain values. ``bot.mattermost`` sends what is planned
here.
"""

from __future__ import annotations

import logging
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# The real server's defaults (Mattermost 9): longer posts, more files per post,
# larger files or images of more pixels are refused with HTTP 400 or 413.
MAX_MESSAGE_CHARS = 16_383
MAX_FILES_PER_POST = 10
DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_IMAGE_PIXELS = 33_177_600
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")


@dataclass(frozen=True)
class PlannedPost:
    """One post to create: its text and the files attached to it."""

    message: str
    files: list[Path]


def plan_posts(
    message: str, files: Sequence[Path], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> list[PlannedPost]:
    """Spread a message and its files over as many posts as the limits demand.

    The text comes first, split where needed, with the first batch of files on its
    last piece; further batches follow, each captioned with the files it holds.
    """
    attachments, notes = fit_attachments(files, max_file_bytes)
    text = "\n\n".join(part for part in (message, *notes) if part)
    pieces = split_message(text)
    batches = [
        attachments[start : start + MAX_FILES_PER_POST]
        for start in range(0, len(attachments), MAX_FILES_PER_POST)
    ]
    posts = [
        PlannedPost(piece, batches[0] if index == len(pieces) - 1 and batches else [])
        for index, piece in enumerate(pieces)
    ]
    for number, batch in enumerate(batches[1:], start=1):
        first = number * MAX_FILES_PER_POST + 1
        last = first + len(batch) - 1
        caption = f"Attachments {first}–{last} of {len(attachments)}."
        posts.append(PlannedPost(caption, batch))
    return posts


def fit_attachments(
    files: Sequence[Path], max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> tuple[list[Path], list[str]]:
    """Keep the files the server accepts; replace or drop the others, noting it."""
    kept: list[Path] = []
    notes: list[str] = []
    for path in files:
        problem = _refusal(path, max_file_bytes)
        if problem is None:
            kept.append(path)
            continue
        twin = path.with_suffix(".svg")
        if (
            path.suffix.lower() != ".svg"
            and twin.is_file()
            and not _refusal(twin, max_file_bytes)
        ):
            kept.append(twin)
            notes.append(f"{path.name} {problem}, so {twin.name} is attached instead.")
        else:
            notes.append(f"{path.name} {problem}, so it was left out.")
        log.warning("Attachment %s %s.", path.name, problem)
    unique = list(dict.fromkeys(kept))
    return unique, notes


def _refusal(path: Path, max_file_bytes: int) -> str | None:
    try:
        size = path.stat().st_size
        width, height = _png_size(path)
    except OSError:
        return "could not be read"
    if size > max_file_bytes:
        return (
            f"is {_mebibytes(size)}, above the server's file limit of "
            f"{_mebibytes(max_file_bytes)}"
        )
    if width * height > MAX_IMAGE_PIXELS:
        return (
            f"is {width}×{height} pixels, above the server's limit of "
            f"{MAX_IMAGE_PIXELS:,} pixels"
        )
    return None


def _png_size(path: Path) -> tuple[int, int]:
    with path.open("rb") as image:
        head = image.read(24)
    if head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        return 0, 0
    return struct.unpack(">II", head[16:24])


def _mebibytes(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"




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
