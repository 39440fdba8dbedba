"""Settings: defaults, parsing, and one error naming every bad variable."""

from pathlib import Path

import pytest

from app.settings import Settings, SettingsError


def test_defaults_without_environment():
    """An empty environment gives the documented defaults."""
    settings = Settings.from_env({})
    assert settings.port == 5000
    assert settings.web_concurrency == 2
    assert settings.app_env == "development"
    assert settings.readiness_min_uptime_seconds == 5.0
    assert settings.cgroup_root == Path("/sys/fs/cgroup")
    assert settings.multiproc_dir is None
    assert settings.fault_error_ratio == 0.0
    assert settings.test_routes_enabled is False


def test_values_are_parsed_and_typed():
    """Each variable lands in its typed field."""
    settings = Settings.from_env(
        {
            "PORT": "8080",
            "WEB_CONCURRENCY": "3",
            "APP_ENV": "production",
            "APP_VERSION": "1.2.3",
            "READINESS_MIN_UPTIME_SECONDS": "2.5",
            "SHUTDOWN_DRAIN_SECONDS": "4",
            "LOG_LEVEL": "debug",
            "PROMETHEUS_MULTIPROC_DIR": "/tmp/x",
            "DEMO_APP_CGROUP_ROOT": "/fake",
            "POD_NAME": "demo-app-7d9f-abcde",
            "METRICS_ENABLED": "false",
            "FAULT_ERROR_RATIO": "0.25",
        }
    )
    assert settings.port == 8080
    assert settings.web_concurrency == 3
    assert settings.app_env == "production"
    assert settings.app_version == "1.2.3"
    assert settings.readiness_min_uptime_seconds == 2.5
    assert settings.shutdown_drain_seconds == 4.0
    assert settings.log_level == "DEBUG"
    assert settings.multiproc_dir == Path("/tmp/x")
    assert settings.cgroup_root == Path("/fake")
    assert settings.hostname == "demo-app-7d9f-abcde"
    assert settings.metrics_enabled is False
    assert settings.fault_error_ratio == 0.25


def test_every_bad_variable_is_named_in_one_error():
    """Several bad values produce one SettingsError that lists each variable and value."""
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(
            {
                "PORT": "eighty",
                "WEB_CONCURRENCY": "0",
                "LOG_LEVEL": "loud",
                "FAULT_ERROR_RATIO": "1.5",
                "READINESS_MIN_UPTIME_SECONDS": "nan",
                "APP_ENV": "prod env",
            }
        )
    message = str(raised.value)
    for fragment in (
        "PORT='eighty'",
        "WEB_CONCURRENCY='0'",
        "LOG_LEVEL='loud'",
        "FAULT_ERROR_RATIO='1.5'",
        "READINESS_MIN_UPTIME_SECONDS='nan'",
        "APP_ENV='prod env'",
    ):
        assert fragment in message
    assert message.count("\n") == 6


def test_empty_values_mean_default():
    """An empty variable (as an unset ConfigMap key renders) keeps the default."""
    assert Settings.from_env({"PORT": "", "APP_ENV": ""}).port == 5000


@pytest.mark.parametrize(
    ("raw", "bound"),
    [("127.0.0.1", "127.0.0.1"), ("::1", "[::1]"), ("[::]", "[::]"), ("localhost", "localhost")],
)
def test_host_is_an_address(raw, bound):
    """HOST takes an IP address (IPv6 bracketed for gunicorn's bind) or localhost."""
    assert Settings.from_env({"HOST": raw}).host == bound


def test_bad_host_is_named():
    """A host name gunicorn cannot bind to is a settings error, not a 5 s retry loop."""
    with pytest.raises(SettingsError, match="HOST='bad host'"):
        Settings.from_env({"HOST": "bad host"})


def test_max_requests_is_off_by_default_and_parsed():
    """Worker recycling is off unless MAX_REQUESTS is set; the jitter is parsed beside it."""
    assert Settings.from_env({}).max_requests == 0
    settings = Settings.from_env({"MAX_REQUESTS": "1000", "MAX_REQUESTS_JITTER": "100"})
    assert (settings.max_requests, settings.max_requests_jitter) == (1000, 100)


def test_max_requests_jitter_needs_max_requests():
    """A jitter without MAX_REQUESTS would silently do nothing: it is an error naming both."""
    with pytest.raises(SettingsError, match="MAX_REQUESTS_JITTER='50': needs MAX_REQUESTS"):
        Settings.from_env({"MAX_REQUESTS_JITTER": "50"})
    with pytest.raises(SettingsError, match="MAX_REQUESTS='-1'"):
        Settings.from_env({"MAX_REQUESTS": "-1"})
