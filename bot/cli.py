"""The graphbot command: subcommands, exit codes and logging set-up.

Exit status: 0 when everything worked, 1 when a host could not be collected (or
a certificate needs attention, for ``certs``), 2 when the settings, the
command line, a snapshot file given to ``--from`` or the output folder cannot
be used, 70 when graphbot itself failed (a bug; the traceback is logged).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.errors import (
    GraphbotError,
    InvalidSettings,
    OutputUnwritable,
    SnapshotUnreadable,
)
from bot.settings import Settings, is_explicit, load_settings

if TYPE_CHECKING:
    from bot.model import Snapshot
    from bot.pipeline import RenderResult

log = logging.getLogger(__name__)

EXIT_OK, EXIT_HOST_FAILED, EXIT_USAGE, EXIT_BUG = 0, 1, 2, 70
QUIET_LIBRARIES = ("apscheduler", "mattermostdriver", "urllib3", "docker", "websockets")


def main(argv: list[str] | None = None) -> int:
    """Run the graphbot command and return its exit status."""
    args = _parser().parse_args(argv)
    settings_path = args.settings or _path_from_env("GRAPHBOT_SETTINGS")
    try:
        settings = load_settings(settings_path)
        if args.output:
            settings = settings.model_copy(update={"output_dir": args.output})
        _configure_logging(_log_level(args, settings))
        return args.handler(args, settings, settings_path)
    except (InvalidSettings, SnapshotUnreadable, OutputUnwritable) as exc:
        print(f"graphbot: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except GraphbotError as exc:
        print(f"graphbot: {exc}", file=sys.stderr)
        return EXIT_HOST_FAILED
    except KeyboardInterrupt:
        return 130
    except Exception:
        # A bug, not bad input: its traceback goes to the log once.
        log.exception("graphbot failed unexpectedly")
        print(
            "graphbot: the command failed because of a bug in graphbot; the "
            "traceback above says where. Please report it with that traceback.",
            file=sys.stderr,
        )
        return EXIT_BUG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graphbot",
        description="Draws what runs on your Docker hosts and posts it to Mattermost.",
        parents=[_common_options(argparse.ArgumentParser(add_help=False))],
    )
    parser.set_defaults(settings=None, verbose=0, output=None)
    commands = parser.add_subparsers(metavar="COMMAND", required=True)
    # The same options after the command name ("graphbot render --output x");
    # SUPPRESS keeps a subcommand from resetting what was given before it.
    common = _common_options(
        argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    )

    render = commands.add_parser(
        "render", parents=[common], help="collect the fleet and write diagrams"
    )
    render.add_argument(
        "--from", dest="source", type=Path, metavar="SNAPSHOT",
        help="redraw a saved inventory.json instead of collecting",
    )
    render.add_argument(
        "--host", dest="hosts", action="append", metavar="NAME",
        help="collect only this host (repeatable)",
    )
    render.set_defaults(handler=_render, is_service=False)

    run = commands.add_parser(
        "run", parents=[common], help="run the Mattermost bot and its schedule"
    )
    run.set_defaults(handler=_run, is_service=True)

    certs = commands.add_parser(
        "certs", parents=[common],
        help="print TLS certificate expiry; non-zero when one needs renewal",
    )
    certs.set_defaults(handler=_certs, is_service=False)
    return parser


def _common_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--settings", type=Path, metavar="FILE",
        help="settings.toml to read (default: $GRAPHBOT_SETTINGS, else the local "
        "engine and ./output)",
    )
    parser.add_argument(
        "-v", "--verbose", action="count",
        help="log more: -v for progress, -vv for every decision (DEBUG)",
    )
    parser.add_argument(
        "--output", type=Path, metavar="DIR",
        help="write files here (overrides output_dir)",
    )
    return parser


def _render(args: argparse.Namespace, settings: Settings, path: Path | None) -> int:
    from bot import pipeline

    _check_host_names(args.hosts, settings)
    if args.source:
        snapshot = pipeline.load_snapshot(args.source)
    else:
        snapshot = pipeline.collect_snapshot(settings, args.hosts)
        if _needs_sample(snapshot, path):
            print(_no_engine_sentence(settings), file=sys.stderr)
            snapshot = pipeline.sample_snapshot()
    result = pipeline.publish(snapshot, settings)
    _print_summary(result)
    return EXIT_HOST_FAILED if result.failed_hosts or result.problems else EXIT_OK


def _needs_sample(snapshot: Snapshot, path: Path | None) -> bool:
    # Only a newcomer with nothing configured gets the sample; anyone who named
    # an engine must hear that it does not answer.
    inventory = snapshot.inventory
    return (
        not is_explicit(path)
        and not inventory.hosts
        and all(f.kind == "unreachable" for f in inventory.failures)
    )


def _no_engine_sentence(settings: Settings) -> str:
    url = settings.hosts[0].url
    return (
        f"graphbot: no Docker engine answers at {url}; set DOCKER_HOST or give "
        "--settings with [[hosts]] to draw your own fleet. Drawing the sample "
        "fleet shipped with graphbot instead."
    )


def _print_summary(result: RenderResult) -> None:
    inventory = result.snapshot.inventory
    label = " (sample)" if inventory.is_sample else ""
    for host in inventory.hosts:
        running = sum(c.state == "running" for c in host.containers)
        print(
            f"{host.host}{label}: {len(host.containers)} containers, "
            f"{running} running"
        )
    for failure in inventory.failures:
        print(f"{failure.host}: not collected: {failure.reason}")
    for problem in result.problems:
        print(f"picture not drawn: {problem}")
    folder = result.inventory_path.parent
    print(f"Wrote {len(result.files)} files to {folder}{os.sep}")


def _check_host_names(names: list[str] | None, settings: Settings) -> None:
    known = [host.name for host in settings.hosts]
    unknown = [name for name in names or [] if name not in known]
    if unknown:
        raise InvalidSettings(
            f"--host {unknown[0]}: no host of that name in the settings; "
            f"known hosts are {', '.join(known)}."
        )


def _run(args: argparse.Namespace, settings: Settings, path: Path | None) -> int:
    from bot.service import run

    return run(settings)


def _certs(args: argparse.Namespace, settings: Settings, path: Path | None) -> int:
    from bot.certificates import certs_exit_status, check_certificates
    from renderers.certificates import certificate_table

    warn_days = settings.certificates.warn_days
    statuses = check_certificates(settings.hosts, warn_within_days=max(warn_days))
    print(certificate_table(statuses, zone=ZoneInfo(settings.schedule.timezone)))
    return certs_exit_status(statuses, min(warn_days))


def _log_level(args: argparse.Namespace, settings: Settings) -> str:
    if args.verbose:
        return "DEBUG" if args.verbose > 1 else "INFO"
    # One-shot commands report every result on stdout, so their log lines
    # would only repeat it; the service has no terminal and logs at its level.
    return settings.log_level if args.is_service else "ERROR"


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )
    # These libraries log every request or job run; their DEBUG output may
    # carry credentials (the Mattermost driver prints the login password).
    for name in QUIET_LIBRARIES:
        quiet = max(logging.WARNING, logging.getLevelName(level))
        logging.getLogger(name).setLevel(quiet)


def _path_from_env(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None
