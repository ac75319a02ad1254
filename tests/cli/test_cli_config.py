"""How every command finds its configuration, and how it reads paths written in it.

`--config`, then `$KESTRAD_CONFIG`, then `./kestrad.yml`, then `/etc/kestrad/kestrad.yml`;
relative paths in a file are relative to that file, so a second shell anywhere reads the
database the daemon writes.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kestrad import __version__
from kestrad.config import default_config_path, load_config, path_from_url


def test_the_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    named = tmp_path / "named.yml"
    assert default_config_path("explicit.yml", {"KESTRAD_CONFIG": str(named)}) == "explicit.yml"
    assert default_config_path(None, {"KESTRAD_CONFIG": str(named)}) == str(named)
    local = tmp_path / "kestrad.yml"
    local.write_text("server: {port: 9999}\n")
    assert default_config_path(None, {}) == "kestrad.yml"
    assert default_config_path(None, {"KESTRAD_CONFIG": ""}) == "kestrad.yml"
    local.unlink()
    expected = "/etc/kestrad/kestrad.yml" if Path("/etc/kestrad/kestrad.yml").is_file() else None
    assert default_config_path(None, {}) == expected


def test_relative_paths_are_relative_to_the_file_not_the_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    file = folder / "kestrad.yml"
    file.write_text(
        "database: {url: 'sqlite://../data/k.db'}\n"
        "flows: {path: flows}\n"
        "storage: {path: ../files}\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load_config(file, environ={})
    assert path_from_url(config.database.url) == str(tmp_path / "data" / "k.db")
    assert config.flows.path == str(folder / "flows")
    assert config.storage.path == str(tmp_path / "files")
    # a value from the environment keeps the working directory as its base
    config = load_config(file, environ={"KESTRAD_FLOWS__PATH": "mine"})
    assert config.flows.path == "mine"
    # absolute paths are kept as written
    file.write_text("database: {url: 'sqlite:////var/tmp/x.db'}\nflows: {path: /srv/flows}\n")
    config = load_config(file, environ={})
    assert path_from_url(config.database.url) == "/var/tmp/x.db"
    assert config.flows.path == "/srv/flows"


def _kestrad(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kestrad", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_second_shell_reads_the_configured_database_through_kestrad_config(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "kestrad.yml").write_text("server: {port: 9191}\nflows: {path: flows}\n")
    shown = _kestrad(
        "config", "show", cwd=tmp_path, env={"KESTRAD_CONFIG": str(folder / "kestrad.yml")}
    )
    assert shown.returncode == 0, shown.stderr
    assert "port: 9191" in shown.stdout
    assert str(folder / "flows") in shown.stdout


def test_version_and_a_closed_pipe(tmp_path: Path) -> None:
    version = _kestrad("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip() == f"kestrad {__version__}"
    # `kestrad plugins list | head -1`: the reader leaves early; no traceback
    shell = subprocess.run(
        f"'{sys.executable}' -m kestrad plugins list | head -1",
        shell=True,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shell.stdout.count("\n") == 1
    assert "Traceback" not in shell.stderr and "BrokenPipe" not in shell.stderr
