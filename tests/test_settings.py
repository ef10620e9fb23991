"""Settings from settings.toml and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import InvalidSettings
from bot.settings import DEFAULT_SOCKET_URL, load_settings

REPO = Path(__file__).resolve().parent.parent


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOCKER_HOST", "GRAPHBOT_SETTINGS", "GRAPHBOT_HOSTS"):
        monkeypatch.delenv(name, raising=False)


def test_shipped_example_settings_load() -> None:
    """The commented settings.toml at the top of the repository is valid."""
    settings = load_settings(REPO / "settings.toml")

    assert [host.name for host in settings.hosts] == ["local"]
    assert settings.certificates.warn_days == [30, 14, 7, 3, 1]


def test_no_settings_means_the_local_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(None)

    assert [(h.name, h.url) for h in settings.hosts] == [("local", DEFAULT_SOCKET_URL)]
    assert settings.output_dir == Path("output")


def test_docker_host_is_respected_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")

    assert load_settings(None).hosts[0].url == "tcp://127.0.0.1:2375"


def test_environment_overrides_file(tmp_path: Path, monkeypatch) -> None:
    path = _write(tmp_path, 'organization = "From file"\n[mattermost]\nteam = "a"\n')
    monkeypatch.setenv("GRAPHBOT_ORGANIZATION", "From env")
    monkeypatch.setenv("GRAPHBOT_MATTERMOST__CHANNEL", "ops")

    settings = load_settings(path)

    assert settings.organization == "From env"
    assert (settings.mattermost.team, settings.mattermost.channel) == ("a", "ops")


def test_hosts_from_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAPHBOT_HOSTS", '[{"name": "web1", "url": "tcp://w:2376"}]')

    assert [h.name for h in load_settings(None).hosts] == ["web1"]


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("colour = 1\n", "colour", "not a setting graphbot knows"),
        ('[[hosts]]\nname = "a"\nurl = "ftp://x"\n', "hosts[0].url", "unix://"),
        (
            '[[hosts]]\nname = "a"\nurl = "unix:///a"\n'
            '[[hosts]]\nname = "a"\nurl = "unix:///b"\n',
            "hosts",
            "used twice",
        ),
        (
            '[[hosts]]\nname = "a"\nurl = "tcp://a:2376"\nca_cert = "/no/ca.pem"\n'
            'cert = "/no/cert.pem"\nkey = "/no/key.pem"\n',
            "hosts[0]",
            "no readable file",
        ),
        ('[[hosts]]\nname = "a"\nurl = "tcp://a:2376"\ncert = "/x"\n', "hosts[0]",
         "add ca_cert, key"),
        ("[schedule]\nrefresh_minutes = \"often\"\n", "schedule.refresh_minutes",
         "integer"),
        ('[schedule]\ndaily_post = "at eight"\n', "schedule.daily_post", "cron"),
        ('[schedule]\ndaily_post = "0 25 * * *"\n', "schedule.daily_post",
         "hour field accepts 0-23"),
        ('[schedule]\ncertificate_check = "0 8 * * 8"\n', "schedule.certificate_check",
         "day of week field accepts 0-7"),
        ('[[hosts]]\nname = "a"\nurl = "ssh://bob:pw@host"\n', "hosts[0].url",
         "must not hold a password"),
        ('[schedule]\ntimezone = "Mars/Olympus"\n', "schedule.timezone", "time zone"),
        ("[certificates]\nwarn_days = [0]\n", "certificates.warn_days", "above zero"),
    ],
)
def test_invalid_setting_names_key_and_expectation(
    tmp_path: Path, text: str, key: str, expected: str
) -> None:
    with pytest.raises(InvalidSettings) as caught:
        load_settings(_write(tmp_path, text))

    assert f"{key}:" in str(caught.value)
    assert expected in str(caught.value)


def test_invalid_token_type_is_not_echoed(tmp_path: Path) -> None:
    """A settings error never repeats the value given, which may be a secret."""
    path = _write(tmp_path, "[mattermost]\ntoken = ['s3cr3t-token-value']\n")

    with pytest.raises(InvalidSettings) as caught:
        load_settings(path)

    assert "mattermost.token" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_broken_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "organization = \n")

    with pytest.raises(InvalidSettings, match="not valid TOML"):
        load_settings(path)


def test_missing_settings_file_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(InvalidSettings, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_cron_with_names_ranges_and_steps_is_accepted(tmp_path: Path) -> None:
    path = _write(
        tmp_path, '[schedule]\ndaily_post = "*/30 7-18 1,15 jan-jun mon-fri"\n'
    )

    assert load_settings(path).schedule.daily_post.startswith("*/30")


def test_misspelt_environment_variable_is_named(monkeypatch) -> None:
    """A typo in a variable name would otherwise change nothing, silently."""
    monkeypatch.setenv("GRAPHBOT_ORGANISATION", "Typo Collective")

    with pytest.raises(InvalidSettings, match="GRAPHBOT_ORGANISATION is not a setting"):
        load_settings(None)


def test_hosts_variable_that_is_not_json_says_so(monkeypatch) -> None:
    monkeypatch.setenv("GRAPHBOT_HOSTS", "[web1")

    with pytest.raises(InvalidSettings, match="GRAPHBOT_HOSTS cannot be read.*JSON"):
        load_settings(None)


def test_error_from_environment_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHBOT_HIDE__URLS", "maybe")

    with pytest.raises(InvalidSettings) as caught:
        load_settings(_write(tmp_path, "[hide]\nports = true\n"))

    assert "hide.urls (set by GRAPHBOT_HIDE__URLS)" in str(caught.value)


def test_folder_given_as_settings_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(InvalidSettings, match="is a folder, not a file"):
        load_settings(tmp_path)
