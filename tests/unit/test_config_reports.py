"""Checks on the reports and recordings settings: each error names the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import load_config
from hotline.errors import ConfigError


def test_the_defaults_pass() -> None:
    config = load_config(None, {})
    assert config.reports.service_level_seconds == 20.0
    assert config.reports.timezone == "Asia/Shanghai"
    assert config.recordings.retention_days == 180 and config.recordings.max_store_mb == 0


def test_valid_values_are_taken(tmp_path: Path) -> None:
    path = tmp_path / "hotline.yaml"
    path.write_text(
        "reports:\n  service_level_seconds: 15\n  timezone: Europe/Berlin\n"
        "recordings:\n  retention_days: 1\n  max_store_mb: 0\n",
        encoding="utf-8",
    )
    config = load_config(path, {})
    assert config.reports.service_level_seconds == 15.0
    assert config.reports.timezone == "Europe/Berlin"
    assert config.recordings.retention_days == 1


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HOTLINE_RECORDINGS_RETENTION_DAYS", "0", "key 'recordings.retention_days': "),
        ("HOTLINE_RECORDINGS_RETENTION_DAYS", "-5", "key 'recordings.retention_days': "),
        ("HOTLINE_RECORDINGS_MAX_STORE_MB", "-1", "key 'recordings.max_store_mb': "),
        ("HOTLINE_REPORTS_SERVICE_LEVEL_SECONDS", "0", "key 'reports.service_level_seconds': "),
        ("HOTLINE_REPORTS_SERVICE_LEVEL_SECONDS", "-3", "key 'reports.service_level_seconds': "),
        ("HOTLINE_REPORTS_SERVICE_LEVEL_SECONDS", "nan", "key 'reports.service_level_seconds': "),
        ("HOTLINE_REPORTS_TIMEZONE", "Mars/Olympus", "key 'reports.timezone': "),
        ("HOTLINE_REPORTS_TIMEZONE", "Asia", "key 'reports.timezone': "),  # a folder
        ("HOTLINE_REPORTS_TIMEZONE", "/etc/passwd", "key 'reports.timezone': "),
        ("HOTLINE_REPORTS_TIMEZONE", "", "key 'reports.timezone': "),
    ],
)
def test_bad_values_name_the_key(variable: str, value: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(None, {variable: value})
    assert expected in caught.value.message
    assert caught.value.message.startswith("environment: ")


def test_a_bad_value_in_the_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "hotline.yaml"
    path.write_text("recordings:\n  retention_days: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.message == (
        f"{path}: key 'recordings.retention_days': must be at least 1, got 0"
    )
