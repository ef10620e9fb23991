"""Settings from settings.toml and the environment, with readable errors.

Every key can be overridden by an environment variable named ``GRAPHBOT_`` plus
the key in capitals, with ``__`` between nested keys: ``GRAPHBOT_ORGANIZATION``,
``GRAPHBOT_MATTERMOST__TOKEN``, ``GRAPHBOT_SCHEDULE__DAILY_POST``. A list such as
``hosts`` is given as JSON. Error messages name the key, never the value given,
because the value may be a token.
"""

from __future__ import annotations

import fnmatch
import os
import re
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from bot.cron import check_cron
from bot.errors import InvalidSettings

DEFAULT_SOCKET_URL = "unix:///var/run/docker.sock"
_HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_URL_SCHEMES = ("unix://", "tcp://", "ssh://", "http://", "https://")
ENV_PREFIX = "GRAPHBOT_"
_settings_file: ContextVar[Path | None] = ContextVar("settings_file", default=None)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HostSettings(_Section):
    """One Docker engine of the fleet."""

    name: str
    url: str
    ca_cert: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    exclude: list[str] = Field(default_factory=list)
    default_network: str = ""
    timeout_seconds: float = Field(default=15.0, gt=0, le=600)

    @field_validator("name")
    @classmethod
    def _name_is_simple(cls, name: str) -> str:
        if not _HOST_NAME.match(name):
            raise ValueError(
                "expected a short name of letters, digits, dots, dashes or "
                "underscores, starting with a letter or digit"
            )
        return name

    @field_validator("url")
    @classmethod
    def _url_has_known_scheme(cls, url: str) -> str:
        if not url.startswith(_URL_SCHEMES) or len(url.split("://", 1)[1]) == 0:
            raise ValueError(
                "expected unix:///path/to/docker.sock, tcp://host:2376 "
                "or ssh://user@host"
            )
        if urlsplit(url).password is not None:
            # Host URLs appear in failure reasons, which are published.
            raise ValueError(
                "must not hold a password; use an SSH key for ssh:// or TLS "
                "certificates (ca_cert, cert, key) for tcp://"
            )
        return url

    @model_validator(mode="after")
    def _tls_files_complete(self) -> HostSettings:
        paths = {"ca_cert": self.ca_cert, "cert": self.cert, "key": self.key}
        given = {key: path for key, path in paths.items() if path is not None}
        if given and len(given) < 3:
            missing = ", ".join(key for key in paths if key not in given)
            raise ValueError(f"TLS needs ca_cert, cert and key together; add {missing}")
        for key, path in given.items():
            if not path.is_file():
                raise ValueError(f"{key}: no readable file at the configured path")
        return self

    @property
    def has_tls(self) -> bool:
        return self.cert is not None

    def is_excluded(self, container_name: str) -> bool:
        """Tell whether a container name matches one of the exclude patterns."""
        return any(fnmatch.fnmatchcase(container_name, p) for p in self.exclude)


class HideSettings(_Section):
    """What is left out of every picture and file written for publication."""

    urls: bool = False
    volumes: bool = False
    binds: bool = False
    ports: bool = False


class ColorSettings(_Section):
    """Colours of the diagram, as Graphviz colour names or #rrggbb."""

    running: str = "#2e7d32"
    stopped: str = "#9e9e9e"
    paused: str = "#f9a825"
    restarting: str = "#ef6c00"
    unhealthy: str = "#c62828"
    network: str = "#1565c0"
    volume: str = "#6d4c41"
    route: str = "#6a1b9a"
    host: str = "#eceff1"

    @field_validator("*")
    @classmethod
    def _is_colour(cls, value: str) -> str:
        if not re.fullmatch(r"#[0-9A-Fa-f]{6}|[A-Za-z]{3,30}", value):
            raise ValueError("expected a colour such as #1565c0 or steelblue")
        return value


class MattermostSettings(_Section):
    """The Mattermost server, the bot's account and where it posts."""

    url: str = ""
    token: SecretStr | None = None
    token_file: Path | None = None
    team: str = ""
    channel: str = ""
    ca_file: Path | None = None
    render_allowed_users: list[str] = Field(default_factory=list)
    render_allowed_channels: list[str] = Field(default_factory=list)

    def read_token(self) -> str:
        """Return the access token from settings or its secret file."""
        if self.token is not None:
            return self.token.get_secret_value().strip()
        if self.token_file is not None:
            try:
                return self.token_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise InvalidSettings(
                    "mattermost.token_file: the token file cannot be read "
                    f"({exc.strerror}); check its path and permissions."
                ) from exc
        raise InvalidSettings(
            "mattermost.token: no access token is configured; set "
            "GRAPHBOT_MATTERMOST__TOKEN or mattermost.token_file."
        )


class ScheduleSettings(_Section):
    """When the jobs of ``graphbot run`` fire (cron expressions)."""

    daily_post: str = "0 8 * * *"
    certificate_check: str = "30 7 * * *"
    timezone: str = "UTC"
    refresh_minutes: int = Field(default=10, ge=1, le=1440)
    misfire_grace_hours: int = Field(default=12, ge=0, le=48)

    @field_validator("daily_post", "certificate_check")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        check_cron(cron)
        return cron

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError('expected a time zone such as "Europe/Berlin"') from None
        return zone


class CertificateSettings(_Section):
    """When certificate and stale-host warnings are posted."""

    warn_days: list[int] = Field(default_factory=lambda: [30, 14, 7, 3, 1])
    stale_after_hours: int = Field(default=48, ge=1)

    @field_validator("warn_days")
    @classmethod
    def _positive_sorted(cls, days: list[int]) -> list[int]:
        if not days or any(day < 1 for day in days):
            raise ValueError(
                "expected a list of whole days above zero, such as [30, 7]"
            )
        return sorted(set(days), reverse=True)


class Settings(BaseSettings):
    """All of graphbot's settings."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    organization: str = "Our collective"
    output_dir: Path = Path("output")
    data_dir: Path = Path("data")
    hosts: list[HostSettings] = Field(default_factory=list)
    hide: HideSettings = HideSettings()
    colors: ColorSettings = ColorSettings()
    mattermost: MattermostSettings = MattermostSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    certificates: CertificateSettings = CertificateSettings()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("hosts")
    @classmethod
    def _unique_names(cls, hosts: list[HostSettings]) -> list[HostSettings]:
        seen: set[str] = set()
        for host in hosts:
            if host.name in seen:
                raise ValueError(
                    f'host name "{host.name}" is used twice; names must differ'
                )
            seen.add(host.name)
        return hosts

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _settings_file.get()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def load_settings(path: Path | None = None) -> Settings:
    """Read settings from ``path`` (if given) and the environment.

    With no hosts configured anywhere, the fleet is the local engine: the one
    ``DOCKER_HOST`` names, else the standard socket.

    Raises:
        InvalidSettings: naming each key that is wrong and what it expects.
    """
    if path is not None and not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise InvalidSettings(
            f"The settings file {path} {problem}; give the path of a "
            "settings.toml (see the commented example shipped with graphbot)."
        )
    _check_environment_names()
    token = _settings_file.set(path)
    try:
        settings = Settings()
    except ValidationError as exc:
        raise InvalidSettings(_describe(exc, path)) from None
    except SettingsError as exc:
        raise InvalidSettings(_environment_not_json(exc)) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidSettings(
            f"The settings file {path} is not valid TOML ({exc}); fix that line."
        ) from None
    finally:
        _settings_file.reset(token)
    if not settings.hosts:
        settings = settings.model_copy(update={"hosts": [local_host()]})
    return settings


def local_host() -> HostSettings:
    """The local engine, as ``DOCKER_HOST`` or the standard socket names it."""
    url = os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET_URL
    return HostSettings(name="local", url=url)


def is_explicit(path: Path | None) -> bool:
    """Tell whether the user named an engine, by settings file or DOCKER_HOST."""
    return path is not None or bool(os.environ.get("DOCKER_HOST")) or any(
        name.startswith("GRAPHBOT_HOSTS") for name in os.environ
    )


def _check_environment_names() -> None:
    # pydantic-settings ignores unknown variables, so a misspelt one such as
    # GRAPHBOT_ORGANISATION would change nothing without a word.
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    known.add(f"{ENV_PREFIX}SETTINGS")
    for name in sorted(os.environ):
        top = name.split("__", 1)[0]
        if name.startswith(ENV_PREFIX) and top not in known:
            raise InvalidSettings(
                f"The environment variable {name} is not a setting graphbot "
                f"knows; check its spelling (settings are {ENV_PREFIX} plus the "
                "key in capitals, __ between a section and its key)."
            )


def _environment_not_json(exc: SettingsError) -> str:
    found = re.search(r'field "(\w+)"', str(exc))
    name = f"{ENV_PREFIX}{found[1].upper()}" if found else f"a {ENV_PREFIX} variable"
    return (
        f"The environment variable {name} cannot be read: a list or section "
        "given in the environment must be JSON, such as "
        '''[{"name": "web1", "url": "tcp://web1.example.org:2376"}]. Fix it.'''
    )


def _describe(exc: ValidationError, path: Path | None) -> str:
    where = f"in {path} and the environment" if path else "in the environment"
    problems = [
        f"{_key(err['loc'])}{_from_environment(err['loc'])}: {_expected(err)}"
        for err in exc.errors()
    ]
    return (
        f"The settings {where} cannot be used. "
        + "; ".join(problems)
        + ". Fix these keys and start again."
    )


def _from_environment(loc: tuple[Any, ...]) -> str:
    # Name the variable when the value came from one, so it can be found.
    names = [str(item).upper() for item in loc if not isinstance(item, int)]
    for length in range(len(names), 0, -1):
        variable = ENV_PREFIX + "__".join(names[:length])
        if variable in os.environ:
            return f" (set by {variable})"
    return ""


def _key(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts) or "settings"


def _expected(err: ErrorDetails) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "is not a setting graphbot knows (check its spelling and section)"
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
    # pydantic's own messages say what is expected without echoing the input.
    return err["msg"][0].lower() + err["msg"][1:]
