"""The `kestrad` command as users run it: real subprocesses, real exit codes, real output."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HELLO = REPO / "examples" / "flows" / "hello.yml"


def kestrad(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kestrad", *args],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        timeout=120,
    )


def test_run_prints_logs_and_exits_zero() -> None:
    result = kestrad("run", str(HELLO), "-i", "name=Ada")
    assert result.returncode == 0, result.stderr
    assert "Hello Ada" in result.stdout
    assert "Nice to meet you, Ada." in result.stdout
    assert "SUCCESS company.team/hello" in result.stdout


def test_run_json_is_kestras_execution_shape() -> None:
    result = kestrad("run", str(HELLO), "--json")
    assert result.returncode == 0, result.stderr
    execution = json.loads(result.stdout)
    assert execution["state"]["current"] == "SUCCESS"
    assert execution["namespace"] == "company.team" and execution["flowId"] == "hello"
    assert execution["outputs"] == {"greeting": "Hello World"}
    assert [h["state"] for h in execution["state"]["histories"]] == [
        "CREATED",
        "RUNNING",
        "SUCCESS",
    ]
    runs = {run["taskId"]: run for run in execution["taskRunList"]}
    assert runs["greet"]["outputs"] == {"values": {"message": "Hello World"}}
    assert runs["anonymous"]["parentTaskRunId"] == runs["check"]["id"]
    counts = [run for run in execution["taskRunList"] if run["taskId"] == "count"]
    assert sorted(run["value"] for run in counts) == ["one", "three", "two"]
    assert all(run["attempts"][0]["state"]["current"] == "SUCCESS" for run in counts)


def test_a_failing_flow_exits_one(tmp_path: Path) -> None:
    flow = tmp_path / "fail.yml"
    flow.write_text(
        "id: fail\nnamespace: tests\ntasks:\n"
        "  - id: boom\n    type: io.kestra.plugin.core.execution.Fail\n    errorMessage: kaboom\n"
    )
    result = kestrad("run", str(flow))
    assert result.returncode == 1
    assert "kaboom" in result.stdout
    assert "FAILED tests/fail" in result.stdout


def test_invalid_flow_lists_every_problem_and_exits_two(tmp_path: Path) -> None:
    flow = tmp_path / "broken.yml"
    flow.write_text(
        "id: broken\nnamespace: tests\ntasks:\n"
        "  - id: a\n    type: io.kestra.plugin.core.log.Log\n    mesage: typo\n"
        "  - id: b\n    type: io.kestra.plugin.core.nope.Nope\n"
    )
    for command in (("validate", str(flow)), ("run", str(flow))):
        result = kestrad(*command)
        assert result.returncode == 2, result
        assert f"{flow}:6:5" in result.stderr, result.stderr
        assert "mesage" in result.stderr
        assert "io.kestra.plugin.core.nope.Nope" in result.stderr


def test_wrong_inputs_exit_two_with_one_line_each(tmp_path: Path) -> None:
    flow = tmp_path / "typed.yml"
    flow.write_text(
        "id: typed\nnamespace: tests\ninputs:\n"
        "  - id: age\n    type: INT\n  - id: when\n    type: DATETIME\n"
        "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    )
    result = kestrad("run", str(flow), "-i", "age=old", "-i", "when=yesterday")
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "age" in errors[0] and "when" in errors[1]


def test_run_by_id_from_a_flows_dir_warns_about_broken_files(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(HELLO.read_text())
    (tmp_path / "bad.yml").write_text("id: bad\nnamespace: tests\ntasks: []\n")
    result = kestrad("run", "company.team/hello", "--flows-dir", str(tmp_path), "--json")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: skipped") == 1 and "bad.yml" in result.stderr
    assert json.loads(result.stdout)["state"]["current"] == "SUCCESS"


def test_validate_examples() -> None:
    result = kestrad("validate", str(REPO / "examples" / "flows"))
    assert result.returncode == 0, result.stderr


def test_validate_checks_each_document_and_prints_notices_as_warnings(tmp_path: Path) -> None:
    """Issue 12 item 3: multi-document YAML, each document on its own; a legacy type is a
    warning (`… is replaced by …`), a typo in a property suggests the right name."""
    flows = tmp_path / "many.yml"
    legacy = (
        "id: old\nnamespace: tests\ntasks:\n  - id: a\n    type: io.kestra.core.tasks.log.Log\n"
    )
    flows.write_text(legacy + "    message: hi\n---\n" + legacy + "    mesage: hi\n")
    result = kestrad("validate", str(flows))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert (
        f"{flows}:5:11: warning: tasks[0].type: `io.kestra.core.tasks.log.Log` is replaced by "
        "`io.kestra.plugin.core.log.Log`"
    ) in lines
    assert any(
        line.startswith(f"{flows}:13:5: tasks[0].mesage: unknown property `mesage`")
        and "did you mean `message`?" in line
        for line in lines
    ), lines
    assert "2 problem(s); 1 flow(s) valid" in result.stderr  # unknown + missing


def test_run_honours_a_pause_timeout(tmp_path: Path) -> None:
    # issue 12: `kestrad run` waits for a Pause that ends by itself through its timeout
    timed = tmp_path / "timed.yml"
    timed.write_text(
        "id: timed\nnamespace: tests\ntasks:\n"
        "  - id: wait\n    type: io.kestra.plugin.core.flow.Pause\n    timeout: PT0.5S\n"
        "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: never\n"
    )
    result = kestrad("run", str(timed))
    assert result.returncode == 1, result.stderr
    assert "Pause timed out" in result.stdout and "FAILED" in result.stdout


def test_run_waits_through_a_delayed_pause_and_exits_3_on_a_manual_one(tmp_path: Path) -> None:
    delayed = tmp_path / "delayed.yml"
    delayed.write_text(
        "id: delayed\nnamespace: tests\ntasks:\n"
        "  - id: wait\n    type: io.kestra.plugin.core.flow.Pause\n    delay: PT0.5S\n"
        "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: resumed by itself\n"
    )
    result = kestrad("run", str(delayed))
    assert result.returncode == 0, result.stderr
    assert "resumed by itself" in result.stdout

    manual = tmp_path / "manual.yml"
    manual.write_text(
        "id: manual\nnamespace: tests\ntasks:\n"
        "  - id: wait\n    type: io.kestra.plugin.core.flow.Pause\n"
    )
    result = kestrad("run", str(manual))
    assert result.returncode == 3, result
    assert "PAUSED tests/manual" in result.stdout


def test_run_prints_load_warnings_and_runs(tmp_path: Path) -> None:
    flow = tmp_path / "legacy.yml"
    flow.write_text(
        "id: legacy\nnamespace: tests\ntasks:\n"
        "  - id: a\n    type: io.kestra.core.tasks.log.Log\n    message: still runs\n"
    )
    result = kestrad("run", str(flow))
    assert result.returncode == 0, result.stderr
    assert f"{flow}:5:11: warning: tasks[0].type: `io.kestra.core.tasks.log.Log`" in result.stderr
    assert "still runs" in result.stdout
