"""Script tasks through real flows: real subprocesses, real engine, real storage."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from tasks_support import eventually, messages, run_flow, run_of, running_engine

from kestrad.flows.loader import FlowLoadError
from kestrad.tasks import process

pytestmark = pytest.mark.anyio


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (killed, not yet reaped by its new parent) is not running any more.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def test_outputs_vars_counts_and_working_dir(tmp_path: Path) -> None:
    source = """
id: outputs
namespace: company.team
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    env:
      GREETING: "hello {{ flow.id }}"
    beforeCommands:
      - echo before
    commands:
      - echo "$GREETING"
      - pwd
      - echo "wd={{ workingDir }}"
      - 'echo ''::{"outputs":{"count":3,"nested":{"a":"b"}}}::'''
      - 'echo ''::{"outputs":{"more":true},"metrics":[{"name":"m","type":"counter","value":1}]}::'''
  - id: use
    type: io.kestra.plugin.core.debug.Return
    format: "{{ outputs.sh.vars.count }} {{ outputs.sh.vars.nested.a }} {{ outputs.sh.vars.more }}"
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "SUCCESS", messages(logs)
    outputs = run_of(final, "sh").outputs
    assert outputs["exitCode"] == 0
    assert outputs["vars"] == {"count": 3, "nested": {"a": "b"}, "more": True}
    assert outputs["stdOutLineCount"] == 6  # before, greeting, pwd, wd, two `::` lines
    assert outputs["stdErrLineCount"] == 0
    assert run_of(final, "use").outputs["value"] == "3 b true"
    lines = messages(logs, "sh")
    assert lines[:2] == ["before", "hello outputs"]
    assert lines[3] == f"wd={lines[2]}"  # `{{ workingDir }}` is the process's cwd
    assert not any(line.startswith("::") for line in lines)


async def test_non_zero_exit_fails_with_last_stderr_lines(tmp_path: Path) -> None:
    source = """
id: fails
namespace: company.team
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo starting
      - for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo "problem $i" >&2; done
      - exit 3
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: not reached
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "FAILED"
    run = run_of(final, "sh")
    assert run.state.current == "FAILED"
    assert run.outputs["exitCode"] == 3
    assert run.outputs["stdErrLineCount"] == 12
    errors = messages(logs, "sh", "ERROR")
    failure = errors[-1]
    assert failure.startswith("Command failed with exit code 3")
    assert "problem 12" in failure and "problem 3\n" in failure and "problem 2\n" not in failure
    assert not any(r.task_id == "never" for r in final.task_run_list)


async def test_fail_fast_stops_at_the_first_failing_command(tmp_path: Path) -> None:
    source = """
id: failfast
namespace: company.team
tasks:
  - id: strict
    type: io.kestra.plugin.scripts.shell.Commands
    allowFailure: true
    commands:
      - "false"
      - echo after-strict
  - id: lenient
    type: io.kestra.plugin.scripts.shell.Commands
    failFast: false
    commands:
      - "false"
      - echo after-lenient
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert (
        run_of(final, "strict").state.current == "WARNING"
    )  # allowFailure turns FAILED into WARNING
    assert "after-strict" not in messages(logs)
    assert run_of(final, "lenient").state.current == "SUCCESS"
    assert "after-lenient" in messages(logs, "lenient")


async def test_warning_on_stderr(tmp_path: Path) -> None:
    source = """
id: warn
namespace: company.team
tasks:
  - id: warns
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo careful >&2
  - id: quiet
    type: io.kestra.plugin.scripts.shell.Commands
    warningOnStdErr: false
    commands:
      - echo careful >&2
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert run_of(final, "warns").state.current == "WARNING"
    assert run_of(final, "quiet").state.current == "SUCCESS"
    assert messages(logs, "warns", "ERROR") == ["careful"]
    assert final.state.current == "WARNING"


async def test_missing_interpreter_is_a_clear_error(tmp_path: Path) -> None:
    source = """
id: nointerp
namespace: company.team
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Script
    interpreter: ["/no/such/shell", "-c"]
    script: echo hi
  - id: named
    type: io.kestra.plugin.scripts.shell.Commands
    allowFailure: true
    interpreter: ["no-such-shell-kestrad", "-c"]
    commands: [echo hi]
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert run_of(final, "sh").state.current == "FAILED"
    assert "interpreter `/no/such/shell` not found" in messages(logs, "sh", "ERROR")[-1]


async def test_missing_python_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("kestrad.tasks.scripts.PYTHON_INTERPRETER", "/no/such/python3")
    source = """
id: nopython
namespace: company.team
tasks:
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    script: print(1)
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "FAILED"
    assert "no Python interpreter found" in messages(logs, "py", "ERROR")[-1]


async def test_python_script_and_commands(tmp_path: Path) -> None:
    source = """
id: python
namespace: company.team
tasks:
  - id: script
    type: io.kestra.plugin.scripts.python.Script
    inputFiles:
      data.json: '{"n": 41}'
    outputFiles: ["result.txt"]
    script: |
      import json
      n = json.load(open("data.json"))["n"] + 1
      open("result.txt", "w").write(str(n))
      print('::' + json.dumps({"outputs": {"n": n}}) + '::')
      print("done {{ flow.id }}")
  - id: commands
    type: io.kestra.plugin.scripts.python.Commands
    inputFiles:
      main.py: |
        import sys
        print("argv", sys.argv[1:])
    commands:
      - python main.py one two
      - python3 -c "print('three')"
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "SUCCESS", messages(logs)
    script = run_of(final, "script").outputs
    assert script["vars"] == {"n": 42}
    assert set(script["outputFiles"]) == {"result.txt"}
    assert messages(logs, "script") == ["done python"]
    assert messages(logs, "commands") == ["argv ['one', 'two']", "three"]


async def test_output_files_reach_the_next_task(tmp_path: Path) -> None:
    source = """
id: files
namespace: company.team
tasks:
  - id: produce
    type: io.kestra.plugin.scripts.shell.Commands
    outputFiles: ["*.csv", "sub/**/*.txt"]
    commands:
      - printf 'a,b\\n1,2\\n' > data.csv
      - mkdir -p sub/deeper && echo nested > sub/deeper/n.txt
      - echo ignored > skip.log
  - id: consume
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      in.csv: "{{ outputs.produce.outputFiles['data.csv'] }}"
    commands:
      - wc -l < in.csv
  - id: show
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(outputs.produce.outputFiles['sub/deeper/n.txt']) | trim }}|{{ fileSize(outputs.produce.outputFiles['data.csv']) }}|{{ read(outputs.produce.outputFiles['data.csv']) }}"
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "SUCCESS", messages(logs)
    files = run_of(final, "produce").outputs["outputFiles"]
    assert set(files) == {"data.csv", "sub/deeper/n.txt"}
    run_id = run_of(final, "produce").id
    expected = f"kestra:///company/team/files/executions/{final.id}/tasks/produce/{run_id}/data.csv"
    assert files["data.csv"] == expected
    assert (tmp_path / "storage" / "company" / "team" / "files").is_dir()
    assert messages(logs, "consume") == ["2"]
    assert run_of(final, "show").outputs["value"] == "nested|8|a,b\n1,2\n"


@pytest.mark.parametrize(
    ("task", "needle"),
    [
        (
            """
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      ../escape.txt: nope
    commands: [echo hi]""",
            "refused",
        ),
        (
            """
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      /tmp/abs.txt: nope
    commands: [echo hi]""",
            "refused",
        ),
        (
            """
    type: io.kestra.plugin.scripts.shell.Commands
    outputFiles: ["../*"]
    commands: [echo hi]""",
            "must stay inside the working directory",
        ),
        (
            """
    type: io.kestra.plugin.scripts.shell.Commands
    inputFiles:
      stolen.txt: "kestra:///other/ns/flow/executions/x/tasks/t/r/secret.txt"
    commands: [echo hi]""",
            "does not belong to namespace `company.team`",
        ),
        (
            """
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read('kestra:///company/team/../../other/file.txt') }}" """,
            "not allowed",
        ),
        (
            """
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read('kestra:///company/team%2F..%2F..%2Fetc/passwd') }}" """,
            "forbidden character",
        ),
        (
            """
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read('kestra:///company/teamX/f/executions/e/tasks/t/r/x') }}" """,
            "does not belong to namespace",
        ),
        (
            """
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read('/etc/passwd') }}" """,
            "namespace files are not supported",
        ),
    ],
)
async def test_path_escapes_are_refused(tmp_path: Path, task: str, needle: str) -> None:
    source = f"""
id: escape
namespace: company.team
tasks:
  - id: bad{task}
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "FAILED"
    errors = messages(logs, "bad", "ERROR")
    assert any(needle in line for line in errors), errors
    assert not (tmp_path / "escape.txt").exists()


async def test_one_hundred_thousand_lines_are_all_logged(tmp_path: Path) -> None:
    source = """
id: chatty
namespace: company.team
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    warningOnStdErr: false
    commands:
      - seq 1 100000
      - seq 1 500 >&2
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source, timeout=120)
    assert final.state.current == "SUCCESS"
    outputs = run_of(final, "sh").outputs
    assert outputs["stdOutLineCount"] == 100_000
    assert outputs["stdErrLineCount"] == 500
    info = messages(logs, "sh", "INFO")
    assert info == [str(i) for i in range(1, 100_001)]
    assert len(messages(logs, "sh", "ERROR")) == 500


async def test_lines_are_logged_while_the_script_runs(tmp_path: Path) -> None:
    marker = tmp_path / "go"
    source = f"""
id: streaming
namespace: company.team
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo first
      - while [ ! -e '{marker}' ]; do sleep 0.05; done
      - echo second
"""
    async with running_engine(tmp_path) as engine:
        flow = await engine.deploy_source(source)
        execution = await engine.create_execution(flow.namespace, flow.id)

        async def first_logged() -> bool:
            return "first" in messages(await engine.logs(execution.id))

        await eventually(first_logged)
        assert (await engine.get_execution(execution.id)).state.current == "RUNNING"
        marker.touch()
        final = await engine.wait_for(execution.id)
    assert final.state.current == "SUCCESS"


STUBBORN = """
id: stubborn
namespace: company.team
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    {timeout}
    commands:
      - sh -c 'trap "" TERM; echo $$ > {child}; while true; do sleep 0.1; done' &
      - trap "" TERM
      - echo $$ > {leader}
      - while true; do sleep 0.1; done
"""


async def _wait_for_pids(*files: Path) -> list[int]:
    await eventually(lambda: all(f.exists() and f.read_text().strip() for f in files))
    return [int(f.read_text()) for f in files]


async def test_kill_stops_a_process_group_that_ignores_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "KILL_GRACE", 0.5)
    child, leader = tmp_path / "child.pid", tmp_path / "leader.pid"
    source = STUBBORN.format(timeout="", child=child, leader=leader)
    async with running_engine(tmp_path) as engine:
        flow = await engine.deploy_source(source)
        execution = await engine.create_execution(flow.namespace, flow.id)
        pids = await _wait_for_pids(child, leader)
        assert all(_alive(pid) for pid in pids)
        await engine.kill(execution.id)
        final = await engine.wait_for(execution.id, timeout=30)
        assert final.state.current == "KILLED"
        await eventually(lambda: not any(_alive(pid) for pid in pids), timeout=10)


async def test_timeout_stops_a_process_group_that_ignores_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(process, "KILL_GRACE", 0.5)
    child, leader = tmp_path / "child.pid", tmp_path / "leader.pid"
    source = STUBBORN.format(timeout="timeout: PT1S", child=child, leader=leader)
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source, timeout=30)
    assert final.state.current == "FAILED"
    assert any("Timeout" in line for line in messages(logs, "sh", "ERROR"))
    pids = [int(child.read_text()), int(leader.read_text())]
    await eventually(lambda: not any(_alive(pid) for pid in pids), timeout=10)


async def test_background_children_do_not_outlive_the_task(tmp_path: Path) -> None:
    child = tmp_path / "bg.pid"
    source = f"""
id: leftovers
namespace: company.team
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - sleep 300 &
      - echo $! > {child}
      - echo started
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source, timeout=30)
    assert final.state.current == "SUCCESS", messages(logs)
    assert not _alive(int(child.read_text()))


async def test_docker_task_runner_is_refused_when_loading(tmp_path: Path) -> None:
    source = """
id: docker
namespace: company.team
tasks:
  - id: sh
    type: io.kestra.plugin.scripts.shell.Commands
    taskRunner:
      type: io.kestra.plugin.scripts.runner.docker.Docker
    commands: [echo hi]
"""
    async with running_engine(tmp_path) as engine:
        with pytest.raises(FlowLoadError, match="Docker task runner is not supported"):
            await engine.deploy_source(source)
        process_runner = source.replace(
            "io.kestra.plugin.scripts.runner.docker.Docker", "io.kestra.plugin.core.runner.Process"
        ).replace("id: docker", "id: process")
        final, logs = await run_flow(engine, process_runner)
    assert final.state.current == "SUCCESS"
    assert messages(logs, "sh") == ["hi"]


def test_sigterm_name() -> None:
    assert process.describe_signal(-signal.SIGKILL) == "SIGKILL"


async def test_custom_interpreter_and_typed_env(tmp_path: Path) -> None:
    source = """
id: interp
namespace: company.team
tasks:
  - id: py
    type: io.kestra.plugin.scripts.shell.Commands
    interpreter: ["python3", "-c"]
    env:
      FLAG: true
      COUNT: 3
      DATA: {"a": 1}
    commands:
      - import os
      - print(os.environ["FLAG"], os.environ["COUNT"], os.environ["DATA"])
"""
    async with running_engine(tmp_path) as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "SUCCESS", messages(logs)
    assert messages(logs, "py") == ['true 3 {"a": 1}']
