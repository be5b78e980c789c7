"""Settings are parsed by pydantic-settings: every bad value, in any process (CLI, worker, web), is one line that
names the variable, the value and what it expects; nothing starts with it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_app.config import SETTING_TYPES, SETTINGS, Config, load_settings, typed_setting
from crm_app.errors import ConfigError
from tests.conftest import ROOT

BAD = {  # one bad value per typed setting, and the words its error must carry
    "DATABASE_URL": ("mysql://db", "sqlite:///path or postgresql://"),
    "MAX_MESSAGE_BYTES": ("abc", "a whole number of at least 1"),
    "MAX_BATCH_BYTES": ("0", "a whole number of at least 1"),
    "SALES_REPS": ("1.5", "a whole number of at least 1"),
    "TRUSTED_PROXY_HOPS": ("-1", "a whole number, 0 or more"),
    "LOG_LEVEL": ("loud", "a logging level: DEBUG, INFO"),
    "SCORE_WORKERS": ("many", "a whole number of at least 1"),
    "SCORE_CHANGED_SECONDS": ("abc", "a number of seconds, more than 0"),
    "CRM_SYNC_SECONDS": ("0", "a number of seconds, more than 0"),
    "WRITE_BACK_SECONDS": ("nan", "a number of seconds, more than 0"),
    "PLAYBOOK_SECONDS": ("inf", "a number of seconds, more than 0"),
    "SCORE_NOW_POLL_SECONDS": ("2s", "a number of seconds, more than 0"),
    "RULES_POLL_SECONDS": ("-5", "a number of seconds, more than 0"),
    "FULL_RESCORE_AT": ("25:00", "a UTC time as HH:MM"),
    "SNAPSHOT_AT": ("noon", "a UTC time as HH:MM"),
    "DIGEST_AT": ("8", "a UTC time as HH:MM"),
    "MISFIRE_GRACE_SECONDS": ("abc", "a whole number of at least 1"),
    "LEADER_LEASE_SECONDS": ("soon", "a number of seconds, more than 0"),
    "SHUTDOWN_GRACE_SECONDS": ("-1", "a number of seconds, 0 or more"),
    "CRM_TIMEOUT_SECONDS": ("30s", "a number of seconds, more than 0"),
    "CRM_RETRY_ATTEMPTS": ("six", "a whole number of at least 1"),
    "SALESFORCE_BULK_THRESHOLD": ("2e3x", "a whole number of at least 1"),
    "SALESFORCE_INSTANCE_URL": ("myorg.my.salesforce.com", "an http:// or https:// URL"),
    "HUBSPOT_HOST": ("api.hubapi.com", "an http:// or https:// URL"),
    "SLACK_API_URL": ("slack", "an http:// or https:// URL"),
    "SLACK_CHANNEL_RATE": ("fast", "messages per second"),
    "SLACK_CHANNEL_BURST": ("0", "a whole number of at least 1"),
    "PLAYBOOK_MAX_ATTEMPTS": ("8.5", "a whole number of at least 1"),
    "RETRAIN_CHECK_SECONDS": ("weekly", "a number of seconds, more than 0"),
    "SALESFORCE_SETTLE_SECONDS": ("-1", "a number of seconds, 0 or more"),
    "SLACK_TIMEOUT_SECONDS": ("0", "a number of seconds, more than 0"),
    "PLAYBOOK_DISPATCH_BUDGET_SECONDS": ("nan", "a number of seconds, more than 0"),
    "CRM_DELETED_CHECK_MINUTES": ("hourly", "a number of minutes, more than 0"),
    "PLAYBOOK_WAIT_FOR_RECORD_HOURS": ("-3", "a number of hours, more than 0"),
    "OIDC_REQUIRE_VERIFIED_EMAIL": ("yes", "0 or 1"),
    "SCORE_ENGINE": ("fast", "one of auto, store, duckdb, spark"),
    "SETWISE_MIN_CHANGED": ("-1", "a whole number, 0 or more"),
    "COLUMNAR_LAG_SECONDS": ("5m", "a whole number, 0 or more"),
    "DUCKDB_THREADS": ("0", "a whole number of at least 1"),
    "DUCKDB_MEMORY_LIMIT": ("lots", "a size such as 512MB"),
}


def test_every_typed_setting_has_a_bad_value_in_this_table():
    assert set(BAD) == set(SETTING_TYPES)
    assert set(SETTING_TYPES) <= set(SETTINGS)


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_value_is_one_line_naming_the_setting_and_what_it_expects(name):
    value, expects = BAD[name]
    with pytest.raises(ConfigError) as info:
        load_settings({name: value})
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{name}={value!r}: expected ") and expects in message, message


@pytest.mark.parametrize("name", sorted(BAD))
def test_every_default_is_valid_and_an_empty_value_means_the_default(name):
    load_settings({name: SETTINGS[name][0]})
    assert typed_setting(name, {name: ""}) == typed_setting(name, {})


def test_several_bad_values_are_one_line_each():
    with pytest.raises(ConfigError) as info:
        load_settings({"MAX_MESSAGE_BYTES": "abc", "LOG_LEVEL": "loud", "WRITE_KEY": "anything is fine"})
    lines = str(info.value).splitlines()
    assert [line.split("=", 1)[0] for line in lines] == ["MAX_MESSAGE_BYTES", "LOG_LEVEL"]


def test_good_values_arrive_typed():
    env = {"SCORE_CHANGED_SECONDS": "2.5", "MAX_BATCH_BYTES": " 1000 ", "LOG_LEVEL": "debug", "DIGEST_AT": "7:05"}
    assert [typed_setting(name, env) for name in env] == [2.5, 1000, "DEBUG", "7:05"]
    assert Config.from_env(env).max_batch_bytes == 1000


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12))
def test_any_text_for_a_whole_number_setting_parses_or_is_one_named_line(text):
    try:
        value = typed_setting("CRM_RETRY_ATTEMPTS", {"CRM_RETRY_ATTEMPTS": text})
    except ConfigError as exc:
        assert str(exc).startswith("CRM_RETRY_ATTEMPTS=") and "\n" not in str(exc)
    else:
        assert isinstance(value, int) and value >= 1


def run(command: list[str], tmp_path, **env) -> subprocess.CompletedProcess:
    full = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path}/pql.db", SPECS_ROOT=str(ROOT),
                CRM_SANDBOX_PATH=str(tmp_path / "crm.db"), PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "crm_app", *command], capture_output=True, text=True, env=full,
                          cwd=tmp_path, timeout=120)


@pytest.mark.parametrize("command,name,value", [
    (["worker"], "SCORE_CHANGED_SECONDS", "abc"),
    (["worker"], "MISFIRE_GRACE_SECONDS", "abc"),
    (["serve", "--port", "0"], "SLACK_CHANNEL_BURST", "lots"),
    (["status"], "CRM_TIMEOUT_SECONDS", "30s"),
])
def test_each_process_refuses_a_bad_setting_in_one_line_before_starting(tmp_path, command, name, value):
    ran = run(command, tmp_path, **{name: value})
    assert ran.returncode == 2, ran.stderr[-1500:]
    assert "Traceback" not in ran.stderr
    (line,) = [line for line in ran.stderr.splitlines() if line.strip()]
    assert line.startswith(f"error: {name}={value!r}: expected "), line


def test_the_web_app_built_from_the_environment_refuses_a_bad_setting(monkeypatch):
    from crm_app import create_app
    monkeypatch.setenv("WRITE_KEY", "k")
    monkeypatch.setenv("DASHBOARD_ADMIN_PASSWORD", "p")
    monkeypatch.setenv("MAX_BATCH_BYTES", "big")
    with pytest.raises(ConfigError, match=r"^MAX_BATCH_BYTES='big': expected a whole number"):
        create_app()
