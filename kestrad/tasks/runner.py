"""Where and how script tasks run: their working directories and their task runner.

Every script run gets a folder of its own under `tasks.work_path`:

    <work_path>/                 0711 (0700 without `tasks.user`): not listable
      <execution id>/            0700, owned by the task user: one per execution
        <random>/                the run's folder
          work/                  `{{ workingDir }}`: input files copied in, outputs read
          private/               interpreter shims and the script file

Input files from the internal storage are copied in (`script_files.write_input_files`);
the storage root itself is never in the command's reach under `bwrap`.

`tasks.runner` picks how the command starts:
- `process`: a plain child process of the daemon, as the daemon's user (or `tasks.user`,
  through `setpriv`, which needs a daemon running as root). No more isolation than that.
- `bwrap`: bubblewrap, a mount/pid/ipc namespace sandbox: the command sees the system's
  read-only `/usr`, `/etc` (without `/etc/kestrad`) and its own run folder, a fresh `/tmp`
  and `/proc`, and nothing of the storage, the database, other runs or the daemon's home.
- `systemd-run`: a transient scope (`systemd-run --scope`), so systemd accounts for and
  kills the whole command tree; `tasks.user` becomes `--uid`. Needs a systemd manager
  that allows it (root, or polkit).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

import msgspec

from kestrad.tasks.base import TaskFailed

RUNNERS = ("process", "bwrap", "systemd-run")
# What every sandboxed command sees of the system, read-only (missing ones are skipped).
_SYSTEM = ("/usr", "/etc", "/opt")
_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_HIDDEN_ETC = ("/etc/kestrad",)
# Environment variables an isolated command does not inherit from the daemon.
_PRIVATE_ENV = ("SECRET_", "KESTRAD_", "NOTIFY_SOCKET", "WATCHDOG_", "JOURNAL_STREAM")


class RunFolder(msgspec.Struct):
    """One script run's folders (see the module notes)."""

    root: Path
    work: Path
    private: Path


class Launch(msgspec.Struct):
    """A command line in two parts: `outer` switches user or cgroup scope and comes before
    `run_command`'s parent-death wrapper (a user switch would clear that setting), `argv`
    comes after it."""

    outer: list[str]
    argv: list[str]


class TaskRunner:
    """The configured runner, its user and the root of the working directories."""

    def __init__(self, work_path: str | Path, kind: str = "process", user: str | None = None):
        if kind not in RUNNERS:
            raise ValueError(f"tasks.runner must be one of {', '.join(RUNNERS)}, not `{kind}`")
        self.work_path = Path(work_path)
        self.kind = kind
        try:
            self.user = pwd.getpwnam(user) if user else None
        except KeyError:
            raise ValueError(f"tasks.user: no user `{user}` on this machine") from None

    # -- folders ----------------------------------------------------------------------------
    def new_run_folder(self, execution_id: str) -> RunFolder:
        """A fresh run folder in the execution's folder, owned by the task user."""
        self.work_path.mkdir(parents=True, exist_ok=True)
        try:
            if self.work_path.stat().st_uid != os.getuid():
                raise PermissionError
            os.chmod(self.work_path, 0o711 if self.user else 0o700)
        except PermissionError:
            raise TaskFailed(
                f"tasks.work_path `{self.work_path}` belongs to another user: refused"
            ) from None
        if not execution_id or "/" in execution_id or execution_id in (".", ".."):
            raise TaskFailed(f"no working directory for execution id `{execution_id}`")
        execution = self.work_path / execution_id
        root = execution / secrets.token_hex(8)
        for _ in range(5):  # another run of the execution may remove its folder meanwhile
            execution.mkdir(mode=0o700, exist_ok=True)
            try:
                root.mkdir(mode=0o700)
                break
            except FileNotFoundError:
                continue
        else:
            raise TaskFailed(f"could not create a working directory under {execution}")
        folder = RunFolder(root=root, work=root / "work", private=root / "private")
        folder.work.mkdir(mode=0o700)
        folder.private.mkdir(mode=0o700)
        if self.user is not None:
            for path in (execution, root, folder.work, folder.private):
                self._give(path)
        return folder

    def hand_over(self, folder: RunFolder) -> None:
        """Give what the daemon wrote into the run folder (input files) to the task user."""
        if self.user is None:
            return
        for base in (folder.work, folder.private):
            for directory, dirs, files in os.walk(base):
                for name in (*dirs, *files):
                    self._give(Path(directory) / name)

    def remove(self, folder: RunFolder) -> None:
        shutil.rmtree(folder.root, ignore_errors=True)
        with contextlib.suppress(OSError):  # the execution's folder, once its last run ended
            folder.root.parent.rmdir()

    def _give(self, path: Path) -> None:
        assert self.user is not None
        try:
            os.chown(path, self.user.pw_uid, self.user.pw_gid, follow_symlinks=False)
        except PermissionError:
            raise TaskFailed(
                f"tasks.user is `{self.user.pw_name}` but the daemon may not give it its "
                "working directory (running as root is needed to switch users)"
            ) from None

    @property
    def isolates(self) -> bool:
        """Whether this runner keeps a command from the daemon's own user and files."""
        return self.kind == "bwrap" or self.user is not None

    def environment(self, daemon_env: Mapping[str, str]) -> dict[str, str]:
        """The environment a command starts from. An isolating runner drops the daemon's
        secrets (`SECRET_*`, Kestra's secrets; `KESTRAD_*`, its configuration overrides)
        and its systemd sockets: a flow passes a secret on purpose, with `env:` and
        `{{ secret('NAME') }}`."""
        if not self.isolates:
            return dict(daemon_env)
        return {k: v for k, v in daemon_env.items() if not k.startswith(_PRIVATE_ENV)}

    # -- command line ------------------------------------------------------------------------
    def wrap(
        self, argv: list[str], folder: RunFolder, workdir: Path, extra_ro: list[str]
    ) -> Launch:
        """How to run `argv` in `folder`, in `workdir` (the run's own, or a WorkingDirectory
        task's). `extra_ro`: paths the command needs read-only besides the system (its
        interpreter's prefix)."""
        if self.kind == "bwrap":
            argv = [*self._bwrap(folder, workdir, extra_ro), *argv]
        if self.kind == "systemd-run":
            uid = [f"--uid={self.user.pw_uid}", f"--gid={self.user.pw_gid}"] if self.user else []
            outer = [_tool("systemd-run"), "--scope", "--quiet", "--collect", *uid, "--"]
            return Launch(outer=outer, argv=argv)
        if self.user is not None:
            outer = [
                _tool("setpriv"),
                f"--reuid={self.user.pw_uid}",
                f"--regid={self.user.pw_gid}",
                "--init-groups",
                "--",
            ]
            return Launch(outer=outer, argv=argv)
        return Launch(outer=[], argv=argv)

    def _bwrap(self, folder: RunFolder, workdir: Path, extra_ro: list[str]) -> list[str]:
        args = [_tool("bwrap"), "--die-with-parent", "--unshare-all", "--share-net"]
        for path in _SYSTEM:
            if os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for path in _SYSTEM_LINKS:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        for path in _HIDDEN_ETC:
            if os.path.isdir(path):
                args += ["--tmpfs", path]
        for path in sorted(set(extra_ro)):
            if os.path.exists(path) and not _under_system(path):
                args += ["--ro-bind", path, path]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        for path in dict.fromkeys((str(folder.root), str(workdir))):
            args += ["--bind", path, path]
        return [*args, "--chdir", str(workdir)]


def interpreter_paths(program: str, env_path: str | None) -> list[str]:
    """The folders a sandbox must show for `program` to run: its installation prefix
    (a virtualenv's, and the Python it links to), when it lives outside the system."""
    found = program if os.sep in program else shutil.which(program, path=env_path)
    if not found:
        return []
    paths = []
    for candidate in (os.path.abspath(found), os.path.realpath(found)):
        prefix = os.path.dirname(os.path.dirname(candidate))  # …/bin/python → …
        if prefix and prefix != "/":
            paths.append(prefix)
    return paths


def _under_system(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in _SYSTEM)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise TaskFailed(f"tasks.runner needs `{name}`, which is not installed")
    return found


_current: TaskRunner | None = None


def configure(runner: TaskRunner | None) -> None:
    """The runner script tasks of this process use (set by the engine at start)."""
    global _current
    _current = runner


def current() -> TaskRunner:
    """The configured runner; outside an engine, `process` under the system temp dir."""
    global _current
    if _current is None:
        _current = TaskRunner(Path(tempfile.gettempdir()) / f"kestrad-work-{os.getuid()}")
    return _current
