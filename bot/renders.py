"""Renders asked for in chat: one at a time per set of hosts, and what to attach.

A second asker joins a render that already covers the hosts asked for, rather
than starting another; every asker gets the same result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from bot.pipeline import RenderResult

RenderFunction = Callable[[list[str] | None], RenderResult]


class SharedRender:
    """One render at a time per set of hosts; a second asker joins the running one."""

    def __init__(self, render: RenderFunction) -> None:
        self._render = render
        self._lock = threading.Lock()
        self._running: dict[tuple[str, ...], Future[RenderResult]] = {}
        self.started_count = 0

    def is_running(self, hosts: list[str] | None) -> bool:
        """Tell whether a render that covers ``hosts`` is running now."""
        return self.covering(hosts) is not None

    def covering(self, hosts: list[str] | None) -> tuple[str, ...] | None:
        """The hosts of the running render that covers ``hosts``, () for the fleet.

        None when no such render is running.
        """
        key = _key(hosts)
        with self._lock:
            if () in self._running:
                return ()
            return key if key in self._running else None

    def run(self, hosts: list[str] | None) -> RenderResult:
        """Render ``hosts`` (None: the fleet), or wait for a running render of them."""
        key = _key(hosts)
        with self._lock:
            future = self._find(key)
            is_owner = future is None
            if future is None:
                future = Future()
                self._running[key] = future
                self.started_count += 1
        if is_owner:
            try:
                future.set_result(self._render(hosts))
            except BaseException as exc:  # handed to every asker, then re-raised
                future.set_exception(exc)
            finally:
                with self._lock:
                    del self._running[key]
        return future.result()

    def _find(self, key: tuple[str, ...]) -> Future[RenderResult] | None:
        # A render of the whole fleet (the empty key) answers any request.
        return self._running.get(key) or self._running.get(())


def joined_text(asked: list[str], running: tuple[str, ...]) -> str:
    """What an asker who joins a running render is told, instead of "Collecting"."""
    if running and asked:
        what = f"of {_names(list(running))}"
    elif asked:
        what = f"of the whole fleet, which includes {_names(asked)},"
    else:
        what = "of the whole fleet"
    return f"A render {what} is already running; its pictures follow here as well."


def pictures(result: RenderResult) -> list[Path]:
    """The PNG files to attach: the fleet picture first, the legend last.

    A host that failed gets no picture of its own (it would show only a "not
    collected" box; the text says why), and a legend alone is not attached.
    """
    failed = set(result.failed_hosts)
    hosts = [png for host, png in result.png_by_host.items() if host not in failed]
    # Fleet pages arrive in page order (fleet-2 before fleet-10).
    shown = [*result.fleet_pngs, *sorted(hosts, key=_by_name)]
    if not shown:
        return []
    return shown + ([result.legend_png] if result.legend_png else [])


def _by_name(path: Path) -> str:
    return path.stem.lower()


def _names(hosts: list[str]) -> str:
    return ", ".join(f"`{host}`" for host in hosts)


def _key(hosts: list[str] | None) -> tuple[str, ...]:
    return tuple(sorted(set(hosts))) if hosts else ()
