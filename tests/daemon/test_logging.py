"""Daemon logs: journald's format when stderr is the journal stream, text otherwise."""

from __future__ import annotations

import os
import re

from .helpers import Daemon


def journal_stream(daemon: Daemon) -> str:
    daemon.stderr_file.touch()
    stat = os.stat(daemon.stderr_file)
    return f"{stat.st_dev}:{stat.st_ino}"


def test_journal_format_when_stderr_is_the_journal(daemon: Daemon) -> None:
    daemon.start(env={"JOURNAL_STREAM": journal_stream(daemon)})
    daemon.write_flow("bad.yml", "id: bad\nnamespace: tests.log\ntasks: [\n")
    daemon.wait_log("not loaded")
    assert daemon.stop() == 0
    lines = daemon.log().splitlines()
    assert lines and all(re.match(r"^<[0-7]>\S", line) for line in lines), lines
    assert any(line.startswith("<6>kestrad.daemon kestrad ready") for line in lines)
    error = next(line for line in lines if "not loaded" in line)
    assert error.startswith("<3>kestrad.flows ")
    assert "\\n  " in error and "bad.yml:4:1" in error  # its problems, on the same line


def test_text_format_otherwise(daemon: Daemon) -> None:
    daemon.start(env={"JOURNAL_STREAM": "1:2"})  # inherited, but not our stderr
    assert daemon.stop() == 0
    ready = next(line for line in daemon.log().splitlines() if "kestrad ready" in line)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO +kestrad\.daemon ", ready)
