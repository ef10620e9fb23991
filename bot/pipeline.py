"""The render job: collect (or load) a snapshot, filter it, write every output file.

Shared by ``graphbot render``, the daily post and ``render now``.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from bot.collector import collect_fleet
from bot.errors import OutputUnwritable, SnapshotUnreadable
from bot.model import Snapshot
from bot.privacy import apply_privacy
from bot.settings import Settings
from renderers.options import RenderOptions
from renderers.publish import RenderReport, render_pictures

log = logging.getLogger(__name__)

INVENTORY_FILE = "inventory.json"
# Lists what the last render wrote, so that pictures of a host that is gone,
# or a fleet picture now split into pages, are not published on and on.
MANIFEST_FILE = ".graphbot-files"


@dataclass(frozen=True)
class RenderResult:
    """What one render produced."""

    snapshot: Snapshot
    files: list[Path]
    inventory_path: Path
    failed_hosts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # pictures not drawn, why
    png_by_host: dict[str, Path] = field(default_factory=dict)  # failed ones too
    fleet_pngs: list[Path] = field(default_factory=list)  # one per fleet page
    legend_png: Path | None = None


def collect_snapshot(
    settings: Settings, host_names: list[str] | None = None
) -> Snapshot:
    """Collect the fleet (or the named hosts) now."""
    hosts = [h for h in settings.hosts if host_names is None or h.name in host_names]
    inventory = collect_fleet(hosts, settings.organization)
    return Snapshot(collected_at=datetime.now(timezone.utc), inventory=inventory)


def load_snapshot(path: Path) -> Snapshot:
    """Read a snapshot written by an earlier render.

    Raises:
        SnapshotUnreadable: the file is missing or is not a graphbot snapshot.
    """
    try:
        snapshot = Snapshot.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise SnapshotUnreadable(
            f"The snapshot {path} cannot be read ({exc.strerror}); give the path "
            f"of an {INVENTORY_FILE} written by graphbot render."
        ) from exc
    except ValidationError as exc:
        raise SnapshotUnreadable(
            f"The file {path} is not a graphbot snapshot (the first problem is "
            f"at {_loc(exc)}); give the path of an "
            f"{INVENTORY_FILE} written by graphbot render."
        ) from None
    if not snapshot.inventory.host_names:
        raise SnapshotUnreadable(
            f"The snapshot {path} names no host, so there is nothing to draw; give "
            f"the path of an {INVENTORY_FILE} written by graphbot render."
        )
    return snapshot


def sample_snapshot() -> Snapshot:
    """The sample fleet shipped with graphbot, marked as a sample."""
    text = resources.files("bot").joinpath("data/sample-inventory.json").read_text()
    snapshot = Snapshot.model_validate_json(text)
    inventory = snapshot.inventory.model_copy(update={"is_sample": True})
    return snapshot.model_copy(update={"inventory": inventory})


def publish(
    snapshot: Snapshot, settings: Settings, *, draw_fleet: bool = True
) -> RenderResult:
    """Filter the snapshot for publication and write JSON, DOT, PNG, SVG and page.

    With ``draw_fleet`` False, only the hosts' pictures and the legend are drawn.
    """
    started = time.monotonic()
    inventory = apply_privacy(snapshot.inventory, settings.hosts, settings.hide)
    public = snapshot.model_copy(update={"inventory": inventory})
    output_dir = settings.output_dir
    inventory_path = output_dir / INVENTORY_FILE
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
        _write_atomically(inventory_path, public.model_dump_json(indent=2))
        report = render_pictures(
            public, output_dir, render_options(settings), draw_fleet=draw_fleet
        )
        files = report.paths
        _remove_leftovers(output_dir, [*files, inventory_path])
    except OSError as exc:
        cause = "a file is in the way" if isinstance(exc, FileExistsError) else (
            exc.strerror or str(exc)
        )
        raise OutputUnwritable(
            f"The output folder {output_dir} cannot be written ({cause}); choose "
            "another with output_dir or --output, or make this one writable."
        ) from exc
    log.info(
        "Rendered %d files in %s (%.1f s)",
        len(files) + 1, output_dir, time.monotonic() - started,
    )
    return _render_result(public, report, inventory_path)


def _render_result(
    public: Snapshot, report: RenderReport, inventory_path: Path
) -> RenderResult:
    failures = public.inventory.failures
    legend_pngs = report.pngs("legend")
    return RenderResult(
        public,
        [*report.paths, inventory_path],
        inventory_path,
        [failure.host for failure in failures],
        report.problems,
        png_by_host=report.png_by_host,
        fleet_pngs=report.pngs("fleet"),
        legend_png=legend_pngs[0] if legend_pngs else None,
    )


def render_options(settings: Settings) -> RenderOptions:
    """The drawing options that settings control."""
    # The organisation name comes from the inventory itself, so a redrawn
    # snapshot (or the sample) keeps the name it was collected under.
    return RenderOptions(
        colors=settings.colors.model_dump(),
        hidden=frozenset(
            key for key, is_on in settings.hide.model_dump().items() if is_on
        ),
        timezone=settings.schedule.timezone,
    )


def _remove_leftovers(output_dir: Path, written: list[Path]) -> None:
    # Only files graphbot itself wrote are removed: the output folder may
    # hold other things the user keeps there.
    manifest = output_dir / MANIFEST_FILE
    names = sorted({path.name for path in written})
    if manifest.is_file():
        previous = set(manifest.read_text(encoding="utf-8").split("\n"))
        for name in sorted(previous - set(names) - {""}):
            leftover = output_dir / Path(name).name
            if leftover.is_file():
                log.debug("Removing %s, which this render no longer writes", leftover)
                leftover.unlink()
    _write_atomically(manifest, "\n".join(names) + "\n")


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def _loc(exc: ValidationError) -> str:
    first = exc.errors()[0]["loc"]
    return ".".join(str(part) for part in first) or "the top level"
