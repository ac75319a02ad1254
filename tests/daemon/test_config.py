"""A configuration that cannot work stops the start (exit 2) and names the key."""

from __future__ import annotations

import signal
from pathlib import Path

from .helpers import Daemon, kestrad


def test_unknown_key_in_the_file(tmp_path: Path) -> None:
    config = tmp_path / "kestrad.yml"
    config.write_text("server:\n  port: 8080\n  bogus: 1\n")
    result = kestrad("serve", "--config", str(config))
    assert result.returncode == 2
    assert "server.bogus: unknown key" in result.stderr


def test_wrong_type_from_the_environment(daemon: Daemon) -> None:
    result = kestrad(
        "serve", "--config", str(daemon.config_file), env={"KESTRAD_SERVER__PORT": "eighty"}
    )
    assert result.returncode == 2
    assert "server.port (from KESTRAD_SERVER__PORT): expected `int`, got `str`" in result.stderr


def test_a_value_of_the_right_type_that_cannot_work(daemon: Daemon) -> None:
    daemon.write_config(server__termination_grace="5 minutes")
    result = kestrad("serve", "--config", str(daemon.config_file))
    assert result.returncode == 2
    assert "server.termination_grace" in result.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    result = kestrad("serve", "--config", str(tmp_path / "nope.yml"))
    assert result.returncode == 2
    assert "no such configuration file" in result.stderr


def test_config_show_prints_the_effective_configuration(daemon: Daemon) -> None:
    result = kestrad(
        "config",
        "show",
        "--config",
        str(daemon.config_file),
        env={"KESTRAD_WORKER__CONCURRENCY": "3"},
    )
    assert result.returncode == 0, result.stderr
    assert f"port: {daemon.port}" in result.stdout
    assert "concurrency: 3" in result.stdout
    assert "termination_grace: PT5M" in result.stdout  # a default, shown too


def test_sighup_applies_the_log_level_and_reports_the_rest(daemon: Daemon) -> None:
    daemon.start()
    port = daemon.port
    daemon.write_config(logging__level="DEBUG", server__port=port + 1)
    daemon.signal(signal.SIGHUP)
    daemon.wait_log("reload: logging.level is now 'DEBUG'")
    daemon.wait_log("reload: server.port changed; it takes effect at the next start")

    daemon.config_file.write_text("server: [\n")  # broken: the running configuration stays
    daemon.signal(signal.SIGHUP)
    daemon.wait_log("keeping the running configuration")
    assert daemon.process is not None and daemon.process.poll() is None
    assert daemon.stop() == 0
