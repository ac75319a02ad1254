"""Script tasks of one namespace cannot read another's files (issue 11, item 3).

Before: every script ran as the daemon's user in a `/tmp/kestrad-wd-*` folder, so a task
of namespace `b` listed and read the running working directory of an execution of `a`,
and the whole internal storage. Now each run gets a 0700 folder per execution under
`tasks.work_path`, input files are copied in, and with `tasks.runner: bwrap` the command
sees only the system, its own folder and a fresh /tmp. Real engine, real bubblewrap.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tasks_support import messages, run_flow, run_of

from kestrad import storage as storage_module
from kestrad.config import Config, ConfigError, load_config
from kestrad.runtime.engine import Engine
from kestrad.tasks.base import TaskFailed
from kestrad.tasks.runner import TaskRunner

pytestmark = pytest.mark.anyio


def _bwrap_problem() -> str | None:
    """Why bubblewrap cannot be tested here, or None."""
    if not os.path.exists("/usr/bin/bwrap"):
        return "bubblewrap is not installed (/usr/bin/bwrap; Debian package `bubblewrap`)"
    probe = subprocess.run(
        ["/usr/bin/bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"bubblewrap cannot create namespaces here: {probe.stderr.strip()}"
    return None


BWRAP_PROBLEM = _bwrap_problem()
needs_bwrap = pytest.mark.skipif(BWRAP_PROBLEM is not None, reason=BWRAP_PROBLEM or "")


@contextlib.asynccontextmanager
async def _engine(tmp_path: Path, **tasks: str) -> AsyncIterator[Engine]:
    previous = storage_module._default
    config = Config()
    config.storage.path = str(tmp_path / "storage")
    config.tasks.work_path = str(tmp_path / "work")
    for key, value in tasks.items():
        setattr(config.tasks, key, value)
    try:
        async with Engine.open(config=config) as engine:
            yield engine
    finally:
        storage_module._default = previous


PROBE = """
id: probe
namespace: company.b
tasks:
  - id: upload
    type: io.kestra.plugin.scripts.shell.Commands
    outputFiles: ["data.txt"]
    commands:
      - echo payload > data.txt
  - id: probe
    type: io.kestra.plugin.scripts.shell.Commands
    warningOnStdErr: false
    inputFiles:
      in.txt: "{{ outputs.upload.outputFiles['data.txt'] }}"
    commands:
      - 'echo "wd={{ workingDir }}"'
      - 'stat -c "mode=%a" "{{ workingDir }}/.."'
      - 'echo "in=$(cat in.txt)"'
      - 'ls "$OTHER_RUN_DIR" >/dev/null 2>&1 && echo "secret=visible" || echo "secret=hidden"'
      - 'ls "$STORAGE" >/dev/null 2>&1 && echo "storage=visible" || echo "storage=hidden"'
      - 'echo "daemon_secret=${SECRET_ISOLATION_PROBE:-absent}"'
      - 'echo "others=$(ls -A "$WORK" 2>/dev/null | sort | tr "\\n" " ")"'
"""


def _lines(logs: list, task: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in messages(logs, task) if "=" in line)


async def _probe(tmp_path: Path, **tasks: str) -> tuple[dict[str, str], Path]:
    secret = tmp_path / "a-running-execution"  # what another namespace's run holds
    secret.mkdir()
    (secret / "private.txt").write_text("not yours")
    env = {"OTHER_RUN_DIR": str(secret), "STORAGE": str(tmp_path / "storage")}
    env["SECRET_ISOLATION_PROBE"] = "enEtcHJvYmUtdmFsdWU="  # a Kestra secret of the daemon
    env["WORK"] = str(tmp_path / "work")
    (tmp_path / "work" / "another-execution").mkdir(parents=True)  # its files are not ours
    os.environ.update(env)
    try:
        async with _engine(tmp_path, **tasks) as engine:
            final, logs = await run_flow(engine, PROBE)
    finally:
        for key in env:
            os.environ.pop(key, None)
    assert final.state.current == "SUCCESS", messages(logs)
    assert run_of(final, "probe").state.current == "SUCCESS"
    seen = _lines(logs, "probe")
    seen["others"] = seen["others"].strip().replace(final.id, "<own>")
    return seen, tmp_path / "work"


async def test_each_run_has_a_private_folder_per_execution(tmp_path: Path) -> None:
    seen, work = await _probe(tmp_path)
    wd = Path(seen["wd"])
    assert wd.is_relative_to(work)  # under tasks.work_path, not /tmp
    assert seen["mode"] == "700"  # the run's folder
    assert seen["in"] == "payload"  # copied in from the internal storage
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    assert not wd.exists()  # removed after the run
    left = sorted(p.name for p in work.iterdir())
    assert left == [".process-groups", "another-execution"]  # nothing of the run left behind


@needs_bwrap
async def test_bwrap_shows_a_run_nothing_but_its_own_folder(tmp_path: Path) -> None:
    seen, _ = await _probe(tmp_path, runner="bwrap")
    assert seen["in"] == "payload"
    assert seen["secret"] == "hidden"  # another run's folder
    assert seen["storage"] == "hidden"  # the internal storage root
    assert seen["others"] == "<own>"  # other executions' folders: only its own is bound
    assert seen["daemon_secret"] == "absent"  # the daemon's secrets stay with the daemon


async def test_without_a_sandbox_the_same_probe_sees_everything(tmp_path: Path) -> None:
    """What the README says honestly: one process alone isolates nothing of one user."""
    seen, _ = await _probe(tmp_path)
    assert (seen["secret"], seen["storage"]) == ("visible", "visible")
    assert "another-execution" in seen["others"]
    assert seen["daemon_secret"] == "enEtcHJvYmUtdmFsdWU="  # Kestra's Process runner too


@needs_bwrap
async def test_python_scripts_run_in_the_sandbox(tmp_path: Path) -> None:
    source = """
id: py
namespace: company.b
tasks:
  - id: py
    type: io.kestra.plugin.scripts.python.Script
    script: |
      import os
      print("cwd=" + os.getcwd())
      print("home=" + str(os.path.exists(os.path.expanduser("~/.bash_history"))))
"""
    async with _engine(tmp_path, runner="bwrap") as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "SUCCESS", messages(logs)
    assert _lines(logs, "py")["cwd"].startswith(str(tmp_path / "work"))


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to tasks.user needs root")
async def test_tasks_user_runs_the_command_as_that_user(tmp_path: Path) -> None:
    nobody = pwd.getpwnam("nobody")
    source = """
id: who
namespace: company.b
tasks:
  - id: who
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - 'echo "uid=$(id -u)"'
      - 'echo hi > out.txt && echo "write=ok"'
"""
    os.chmod(tmp_path, 0o755)  # pytest's tmp folders are 0700: let `nobody` reach work/
    async with _engine(tmp_path, user="nobody") as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "SUCCESS", messages(logs)
    seen = _lines(logs, "who")
    assert (seen["uid"], seen["write"]) == (str(nobody.pw_uid), "ok")
    assert stat.S_IMODE((tmp_path / "work").stat().st_mode) == 0o711  # traverse, not list


@pytest.mark.skipif(
    shutil.which("systemd-run") is None
    or subprocess.run(
        ["systemd-run", "--scope", "--quiet", "true"], capture_output=True, check=False
    ).returncode
    != 0,
    reason="systemd-run --scope is not available here (no systemd manager to ask)",
)
async def test_systemd_run_scope(tmp_path: Path) -> None:
    source = """
id: scope
namespace: company.b
tasks:
  - id: scope
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - 'echo "cgroup=$(cat /proc/self/cgroup)"'
"""
    async with _engine(tmp_path, runner="systemd-run") as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "SUCCESS", messages(logs)
    assert ".scope" in _lines(logs, "scope")["cgroup"]


# -- hostile or wrong settings ------------------------------------------------------------------
@pytest.mark.parametrize("execution_id", ["../escape", "a/b", "..", "."])
def test_a_run_folder_never_leaves_the_work_path(tmp_path: Path, execution_id: str) -> None:
    runner = TaskRunner(tmp_path / "work")
    with pytest.raises(TaskFailed):
        runner.new_run_folder(execution_id)
    assert not (tmp_path / "escape").exists()


def test_a_work_path_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("making a folder owned by another user needs root")
    foreign = tmp_path / "work"
    foreign.mkdir()
    os.chown(foreign, pwd.getpwnam("nobody").pw_uid, -1)
    with pytest.raises(TaskFailed, match="belongs to another user"):
        TaskRunner(foreign).new_run_folder("e1")


@pytest.mark.parametrize(
    ("yaml", "needle"),
    [
        ("tasks: {runner: docker}", "tasks.runner"),
        ("tasks: {user: no-such-user-here}", "no user `no-such-user-here`"),
        ("worker: {max_deliveries: 0}", "worker.max_deliveries"),
    ],
)
def test_wrong_task_settings_name_the_key(tmp_path: Path, yaml: str, needle: str) -> None:
    file = tmp_path / "kestrad.yml"
    file.write_text(yaml)
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_config(str(file), environ={})


@needs_bwrap
async def test_bwrap_scripts_share_a_working_directory_task_folder(tmp_path: Path) -> None:
    """Kestra's WorkingDirectory: its scripts see its one folder, even in their sandboxes."""
    source = """
id: shared
namespace: company.b
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: write
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - echo shared > note.txt
      - id: read
        type: io.kestra.plugin.scripts.shell.Commands
        commands:
          - 'echo "note=$(cat note.txt)"'
          - 'echo "wd={{ workingDir }}"'
"""
    async with _engine(tmp_path, runner="bwrap") as engine:
        final, logs = await run_flow(engine, source)
    assert final.state.current == "SUCCESS", messages(logs)
    seen = _lines(logs, "read")
    assert seen["note"] == "shared"
    assert Path(seen["wd"]).is_relative_to(tmp_path / "work")
