"""What the operator's CLI tells: why an execution failed, its outputs and task runs in a
table, a timeout as its own exit code, FILE inputs from local files, executions read,
listed for files and deleted, flows listed, printed and deleted, unknown ids as errors.

Real subprocesses over one SQLite database (`--config`), as an operator runs them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FILES = """id: files
namespace: cli.demo
inputs:
  - id: data
    type: FILE
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "read: {{ read(inputs.data) }}"
  - id: out
    type: io.kestra.plugin.core.output.OutputValues
    values:
      n: 3
outputs:
  - id: n
    type: INT
    value: "{{ outputs.out.values.n }}"
"""

MISSING_SUBFLOW = """id: caller
namespace: cli.demo
tasks:
  - id: call
    type: io.kestra.plugin.core.flow.Subflow
    namespace: cli.demo
    flowId: does_not_exist
"""

SLOW = """id: slow
namespace: cli.demo
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT30S
"""


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    config = tmp_path / "kestrad.yml"
    flows = tmp_path / "flows"
    flows.mkdir()
    config.write_text(
        json.dumps(
            {
                "database": {"url": f"sqlite:///{tmp_path / 'kestrad.db'}"},
                "flows": {"path": str(flows)},
            }
        )
    )
    for name, source in (("files.yml", FILES), ("caller.yml", MISSING_SUBFLOW), ("slow.yml", SLOW)):
        (tmp_path / name).write_text(source)
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    return {"tmp": tmp_path, "config": config}


def kestrad(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kestrad", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )


def test_run_uploads_a_file_input_and_prints_outputs_and_task_runs(setup) -> None:
    tmp, config = setup["tmp"], str(setup["config"])
    result = kestrad(
        "run", "files.yml", "--config", config, "-i", f"data=@{tmp / 'data.csv'}", cwd=tmp
    )
    assert result.returncode == 0, result.stderr
    assert "read: a,b" in result.stdout
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["task", "value"])
    assert lines[header].split() == ["task", "value", "state", "duration", "attempts"]
    assert lines[header + 1].split()[:3] == ["show", "-", "SUCCESS"]
    assert lines[header + 1].split()[-1] == "1"  # attempts
    assert 'outputs: {"n": 3}' in result.stdout
    execution_id = next(line for line in lines if line.startswith("SUCCESS")).split()[2]

    files = kestrad("executions", "files", execution_id, "--config", config, cwd=tmp)
    assert files.returncode == 0, files.stderr
    uri = f"kestra:///cli/demo/files/executions/{execution_id}/inputs/data/data.csv"
    assert uri in files.stdout
    out = tmp / "copy.csv"
    got = kestrad(
        "executions", "files", execution_id, uri, "-o", str(out), "--config", config, cwd=tmp
    )
    assert got.returncode == 0 and out.read_text() == "a,b\n1,2\n"
    foreign = kestrad(
        "executions",
        "files",
        execution_id,
        "kestra:///cli/demo/other.txt",
        "--config",
        config,
        cwd=tmp,
    )
    assert foreign.returncode == 1 and "not a file of execution" in foreign.stderr

    shown = kestrad("executions", "get", execution_id, "--config", config, cwd=tmp)
    assert shown.returncode == 0 and f"SUCCESS cli.demo/files {execution_id}" in shown.stdout
    deleted = kestrad("executions", "delete", execution_id, "--config", config, cwd=tmp)
    assert deleted.returncode == 0, deleted.stderr
    gone = kestrad("executions", "get", execution_id, "--config", config, cwd=tmp)
    assert gone.returncode == 1 and "not found" in gone.stderr
    logs = kestrad("logs", execution_id, "--config", config, cwd=tmp)
    assert logs.returncode == 1 and "not found" in logs.stderr


def test_a_failed_execution_says_why(setup) -> None:
    tmp, config = setup["tmp"], str(setup["config"])
    result = kestrad("run", "caller.yml", "--config", config, cwd=tmp)
    assert result.returncode == 1
    tail = result.stdout[result.stdout.index("failed because:") :]
    assert "call: Subflow cli.demo/does_not_exist not found" in tail
    execution_id = next(
        line for line in result.stdout.splitlines() if line.startswith("FAILED")
    ).split()[2]
    shown = kestrad("executions", "get", execution_id, "--config", config, cwd=tmp)
    assert "failed because:" in shown.stdout and "does_not_exist" in shown.stdout


def test_a_timeout_has_its_own_exit_code(setup) -> None:
    tmp, config = setup["tmp"], str(setup["config"])
    result = kestrad("run", "slow.yml", "--config", config, "--timeout", "0.5", cwd=tmp)
    assert result.returncode == 4, result.stderr
    assert "--timeout 0.5 s" in result.stderr


def test_a_missing_file_input_is_invalid(setup) -> None:
    tmp, config = setup["tmp"], str(setup["config"])
    result = kestrad("run", "files.yml", "--config", config, "-i", "data=@/nope/x.csv", cwd=tmp)
    assert result.returncode == 2 and "no file /nope/x.csv" in result.stderr


def test_flows_listed_printed_and_deleted(setup) -> None:
    tmp, config = setup["tmp"], str(setup["config"])
    folder_flow = setup["tmp"] / "flows" / "folder.yml"
    folder_flow.write_text(FILES.replace("id: files", "id: from_folder"))
    assert (
        kestrad(
            "run",
            "files.yml",
            "--config",
            config,
            "-i",
            f"data=@{tmp / 'data.csv'}",
            "--flows-dir",
            str(tmp / "flows"),
            cwd=tmp,
        ).returncode
        == 0
    )
    listed = kestrad("flows", "list", "--config", config, cwd=tmp)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [r[:3] for r in rows] == [["cli.demo", "files", "1"], ["cli.demo", "from_folder", "1"]]
    printed = kestrad("flows", "get", "cli.demo/files", "--config", config, cwd=tmp)
    assert printed.stdout == FILES
    refused = kestrad("flows", "delete", "cli.demo/from_folder", "--config", config, cwd=tmp)
    assert refused.returncode == 1 and "folder.yml" in refused.stderr
    deleted = kestrad("flows", "delete", "cli.demo/files", "--config", config, cwd=tmp)
    assert deleted.returncode == 0, deleted.stderr
    missing = kestrad("flows", "get", "cli.demo/files", "--config", config, cwd=tmp)
    assert missing.returncode == 1 and "no flow cli.demo/files" in missing.stderr
