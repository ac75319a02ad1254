"""`kestrad serve`: the engine, the flows folder, the HTTP API and systemd, on one loop.

Everything runs as cooperating tasks of one event loop, nested so that shutdown happens
in the right order:

    signals                      (always; a second TERM/INT forces, a third exits now)
    engine: executor, worker     (Engine.open: store migrated, closed last)
      services: HTTP server, sd_notify watchdog/status
        feeders: flows watcher and rescan, scheduler, monitor, SIGHUP reloads

With `server.processes` above 1 this process starts the others and speaks for them
(`daemon/processes.py`); they run the same nesting without the flows folder, the scheduler
and retention, and take their stop and reload from it.

A task that fails or returns takes the whole daemon down with a log line naming it and
exit status 1 (systemd restarts it): nothing keeps running half-alive. SIGTERM/SIGINT
drain: the feeders stop, HTTP stops accepting, running tasks get `server.termination_grace`
to finish, the rest are cancelled and run again at the next start; exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import msgspec
import uvicorn

from kestrad.api.app import close_streams, create_app
from kestrad.config import Config, ConfigError, load_config, parse_roles
from kestrad.daemon.http_protocol import header_deadline_protocol
from kestrad.daemon.logsetup import set_level, setup_logging
from kestrad.daemon.processes import (
    FORCE,
    RELOAD,
    ProcessEnded,
    ProcessGroup,
    become_child,
    process_count,
    read_commands,
    roles_of_the_others,
)
from kestrad.daemon.sdnotify import Notifier
from kestrad.model.durations import parse_duration
from kestrad.runtime.engine import Engine
from kestrad.runtime.flow_follow import FlowFollower
from kestrad.runtime.leadership import SchedulerRole
from kestrad.runtime.loop import run_async
from kestrad.runtime.retention import run_retention
from kestrad.runtime.scheduler import Scheduler
from kestrad.runtime.watcher import FlowSync, FolderGone
from kestrad.store.base import SchedulerLease
from kestrad.store.lease import Fenced
from kestrad.store.outage import DatabaseUnreachable, is_unavailable
from kestrad.ui.routes import ui_routes

log = logging.getLogger("kestrad.daemon")
# Where cancelled tasks go: their jobs are released when this instance stops, so a daemon
# sharing the database (PostgreSQL) claims them at once; alone, this one at its next start.
_WHO_RUNS_THEM = (
    "their jobs are handed back: another daemon on this database runs them now, "
    "or this one at its next start"
)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_FORCED = 0, 1, 2, 130
# Keys a SIGHUP applies at once; any other change waits for a restart (and says so).
LIVE_KEYS = ("logging.level",)
FORCED_EXIT_DEADLINE = 10.0


class DaemonError(Exception):
    """A failure whose message says everything (no traceback needed): port in use, …"""


CLEAR_ERRORS = (DaemonError, FolderGone, DatabaseUnreachable, Fenced, ProcessEnded)


def serve(
    config_path: str | None,
    roles: str | None = None,
    *,
    processes: int | None = None,
    listen_fd: int | None = None,
    child_of: int | None = None,
) -> int:
    """Load the configuration, set up logging, run the daemon; returns the exit status.

    `roles` (`--roles`) replaces `server.roles` and `processes` (`--processes`)
    `server.processes` for this run. `child_of` and `listen_fd` are set by the first process
    of a daemon on the others it starts (`daemon/processes.py`).
    """
    if child_of is not None:
        become_child(child_of)
    try:
        if listen_fd is not None and child_of is None:
            raise ValueError("--listen-fd is kestrad's own, for the processes it starts")
        if roles is not None:
            parse_roles(roles)
        if processes is not None and processes < 0:
            raise ValueError("--processes: must be 0 (one per CPU) or more")
        overrides = CommandLine(roles=roles, processes=processes)
        config = overrides.apply(load_config(config_path))
        # How many processes this one starts, itself included (the others start none).
        count = 1 if child_of is not None else process_count(config.server.processes)
        if count > 1 and not roles_of_the_others(parse_roles(config.server.roles)):
            raise ValueError(
                "server.processes: more than one process needs a role besides scheduler"
            )
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(config.logging.level, with_pid=child_of is not None or count > 1)

    daemon = Daemon(
        config,
        config_path,
        Notifier.from_environment(),
        child_of=child_of,
        listen_fd=listen_fd,
        overrides=overrides,
        processes=count,
    )
    try:
        return run_async(daemon.run)
    except KeyboardInterrupt:  # before the signal receiver was in place
        return EXIT_FORCED


class CommandLine(msgspec.Struct, frozen=True):
    """What `kestrad serve`'s options replace in the configuration file, again at each
    SIGHUP reload (they are not changes of the file)."""

    roles: str | None = None
    processes: int | None = None

    def apply(self, config: Config) -> Config:
        if self.roles is not None:
            config.server.roles = self.roles
        if self.processes is not None:
            config.server.processes = self.processes
        return config


class Daemon:
    """One `kestrad serve` process."""

    def __init__(
        self,
        config: Config,
        config_path: str | None,
        notifier: Notifier,
        *,
        child_of: int | None = None,
        listen_fd: int | None = None,
        overrides: CommandLine | None = None,
        processes: int = 1,
    ) -> None:
        self.config = config
        self.overrides = overrides or CommandLine()
        # One of the other processes of a daemon (`server.processes`), started by `child_of`.
        self.is_child = child_of is not None
        self.listen_fd = listen_fd
        self.processes = processes  # this one and those it starts
        self.group: ProcessGroup | None = None
        self.config_path = config_path
        self.notifier = notifier
        self.grace = parse_duration(config.server.termination_grace).total_seconds()
        self.roles = parse_roles(config.server.roles)
        self._forced = False
        self._ready = False
        self._work_entered = False
        self._outer: anyio.abc.TaskGroup | None = None
        self._feeders: anyio.abc.TaskGroup | None = None
        self._reloading = False
        self._logged: set[int] = set()
        self.engine: Engine | None = None
        self.sync: FlowSync | None = None
        self.address = ""

    # -- the whole run ----------------------------------------------------------------------
    async def run(self) -> int:
        # anyio primitives belong to the running loop: created here, not in __init__.
        self._stop = anyio.Event()
        self._work = anyio.CancelScope()  # the part a second signal cancels
        self._http_done = anyio.Event()
        try:
            with self._stop_requests() as requests:
                async with anyio.create_task_group() as outer:
                    self._outer = outer
                    outer.start_soon(self._handle_requests, requests)
                    try:
                        await self._run_engine()
                    finally:
                        outer.cancel_scope.cancel()
        except Exception as exc:
            self._report_failure(exc)
            return EXIT_FAILED
        finally:
            self.notifier.close()
        if self._forced:
            log.warning("kestrad stopped (forced)")
            return EXIT_FORCED
        log.info("kestrad stopped")
        return EXIT_OK

    async def _run_engine(self) -> None:

        config = self.config
        _ensure_folder(config.flows.path)
        listener = None
        if self.listen_fd is not None:
            listener = socket.socket(fileno=self.listen_fd)
            listener.set_inheritable(False)
        elif "webserver" in self.roles:
            listener = _listen(config.server.host, config.server.port)
        if listener is not None:
            host, port = listener.getsockname()[:2]
            self.address = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        roles = ",".join(self.roles)
        try:
            # Pass the url explicitly: Engine.open alone would use a temporary database.
            wait = parse_duration(config.database.startup_wait).total_seconds()
            async with Engine.open(
                config.database.url, config=config, roles=roles, database_wait=wait
            ) as engine:
                self.engine = engine
                with self._work:
                    self._work_entered = True
                    await self._run_services(engine, listener)
        finally:
            if listener is not None:
                listener.close()

    async def _run_services(self, engine: Engine, listener: socket.socket | None) -> None:
        """The HTTP server only with the webserver role (`listener` is None without it),
        the scheduler and its monitor only with the scheduler role."""
        config = self.config
        sync = self.sync = None if self.is_child else FlowSync(engine, config.flows.path)
        ui = ui_routes(engine) if config.server.ui else ()
        self.app = create_app(engine, config, extra_routes=ui)
        server = EmbeddedServer(_uvicorn_config(self.app, config))
        async with anyio.create_task_group() as services:
            async with anyio.create_task_group() as feeders:
                self._feeders = feeders
                if sync is not None and config.flows.watch:
                    watch = partial(sync.watch, force_polling=config.flows.force_polling)
                    await feeders.start(self._supervised_start, "flows watcher", watch)
                if sync is not None:
                    await sync.reconcile(from_store=True)
                if listener is not None:
                    services.start_soon(
                        self._supervised, "HTTP server", self._serve_http, server, listener
                    )
                    while not server.started:
                        await anyio.sleep(0.01)
                else:
                    self._http_done.set()
                if sync is not None and config.flows.rescan_interval:
                    interval = parse_duration(config.flows.rescan_interval).total_seconds()
                    if interval > 0:
                        feeders.start_soon(
                            self._supervised, "flows rescan", sync.rescan_every, interval
                        )
                if "scheduler" in self.roles:
                    role = self._scheduler_role(engine, sync)
                    first = await role.try_lead()
                    feeders.start_soon(self._supervised, "scheduler", role.run, first)
                if not self.is_child:
                    feeders.start_soon(
                        self._supervised, "retention", run_retention, engine.services, config
                    )
                # Flows changed by the other processes of this daemon, other daemons on its
                # database or a `kestrad flows` command: into this one's cache and scheduler.
                follower = FlowFollower(engine.store, engine.flows, engine.flow_saved)
                feeders.start_soon(self._supervised, "flow changes", follower.run)
                if self.processes > 1:
                    self.group = ProcessGroup(
                        self.processes,
                        config_path=self.config_path,
                        roles=roles_of_the_others(self.roles),
                        listener=listener,
                    )
                    await services.start(self._supervised_start, "processes", self.group.run)
                services.start_soon(self._supervised, "sd_notify", self._notify_loop)
                self._ready = True
                log.info(
                    "kestrad %s (%s): API on %s, %s",
                    f"process {os.getpid()} ready" if self.is_child else "ready",
                    ",".join(self.roles),
                    self.address or "none",
                    self._counts(),
                )
                self.notifier.ready(self._status())
                await self._stop.wait()
                feeders.cancel_scope.cancel()
            await self._drain(engine, server)
            services.cancel_scope.cancel()

    def _scheduler_role(self, engine: Engine, sync: FlowSync | None) -> SchedulerRole:
        """The scheduler role: fires while this instance holds the scheduler lease (one
        daemon of several on a database), fed single flow changes by the folder sync and
        end notices by the executor (its trigger locks)."""

        def make_scheduler(lease: SchedulerLease) -> Scheduler:
            return Scheduler(
                engine.store,
                engine.flows,
                renderer=engine.renderer,
                secret_key=engine.secret_key,
                config=self.config.scheduler,
                wake=engine.hub.executor_wake.set,
                lease=lease,
            )

        def leader_changed(scheduler: Scheduler | None) -> None:
            engine.scheduler = scheduler

        role = SchedulerRole(
            engine.store,
            holder=engine.instance_id,
            lease=self.config.scheduler.lease,
            make_scheduler=make_scheduler,
            on_change=leader_changed,
        )

        def flow_changed(row: Any) -> None:
            if row.deleted:
                role.flow_removed(row)
                return
            flow = engine.flows.latest(row.namespace, row.id)
            if flow is not None:
                role.flow_changed(flow, enabled=not row.disabled)

        if sync is not None:
            sync.listeners.append(flow_changed)
        engine.flow_listeners.append(flow_changed)
        engine.executor.ended_listeners.append(role.execution_ended)
        return role

    async def _drain(self, engine: Engine, server: EmbeddedServer) -> None:
        if self.group is not None:  # the others drain beside this one
            await self.group.stop()
        running = engine.worker.running
        self.notifier.stopping(f"draining: {running} task(s) running")
        log.info(
            "draining: %d task(s) running, waiting up to %s for them to end "
            "(a second signal stops at once)",
            running,
            self.config.server.termination_grace,
        )
        close_streams(self.app)  # SSE followers get a final event instead of a cut
        server.should_exit = True  # stop accepting; open requests get a few seconds
        try:
            left = await engine.drain(self.grace)
        except Exception as exc:  # stopping during a database outage is still a clean stop
            if not is_unavailable(exc):
                raise
            left = engine.worker.running
            log.warning(
                "database unreachable while draining (%s): results not stored yet are "
                "not kept; their tasks run again (at-least-once)",
                _describe(exc),
            )
        if left:
            log.warning("grace period over: cancelling %d task(s); %s", left, _WHO_RUNS_THEM)
        with anyio.move_on_after(FORCED_EXIT_DEADLINE):
            await self._http_done.wait()
        if self.group is not None:
            await self.group.wait_ended(self.grace + FORCED_EXIT_DEADLINE)

    # -- tasks ------------------------------------------------------------------------------
    async def _supervised(self, name: str, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run a task that must live as long as the daemon; its end is the daemon's end."""
        try:
            await fn(*args)
        except Exception as exc:
            self._logged.add(id(exc))
            trace = None if isinstance(exc, CLEAR_ERRORS) else exc
            log.critical("%s failed, stopping kestrad: %s", name, _describe(exc), exc_info=trace)
            raise
        if not self._stop.is_set():
            exc = DaemonError(f"{name} stopped unexpectedly, stopping kestrad")
            self._logged.add(id(exc))
            log.critical("%s", exc)
            raise exc

    async def _supervised_start(
        self,
        name: str,
        fn: Callable[..., Awaitable[Any]],
        *args: Any,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """`_supervised` for tasks started with `TaskGroup.start` (ready once set up)."""

        async def run() -> None:
            await fn(*args, task_status=task_status)

        await self._supervised(name, run)

    async def _serve_http(self, server: EmbeddedServer, listener: socket.socket) -> None:
        try:
            await server.serve(sockets=[listener])
        except SystemExit as exc:  # uvicorn exits the process on some startup failures
            raise DaemonError(f"the HTTP server could not start (status {exc.code})") from None
        finally:
            self._http_done.set()
        if not server.should_exit:
            raise DaemonError("the HTTP server stopped by itself")

    async def _notify_loop(self) -> None:
        """WATCHDOG=1 at half the watchdog interval; STATUS= whenever the counts change."""
        if not self.notifier.enabled:
            await anyio.sleep_forever()
        interval = self.notifier.watchdog_interval
        last_status = ""
        while True:
            if interval:
                self.notifier.watchdog()
            status = self._status()
            if status != last_status:
                self.notifier.status(status)
                last_status = status
            await anyio.sleep(min(interval or 2.0, 2.0))

    # -- signals ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _stop_requests(self) -> Iterator[AsyncIterator[str]]:
        """What asks this process to stop or reload, as words: its signals' names, or, in
        one of a daemon's other processes, what the first one writes on its stdin."""
        if not self.is_child:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as sigs:
                yield (signal.Signals(signum).name async for signum in sigs)
            return
        send, receive = anyio.create_memory_object_stream[str](16)
        loop = asyncio.get_running_loop()

        def deliver(word: str) -> None:
            loop.call_soon_threadsafe(_send_or_drop, send, word)

        read_commands(deliver)
        with send, receive:
            yield receive

    async def _handle_requests(self, requests: AsyncIterator[str]) -> None:
        async for request in requests:
            if request in ("SIGHUP", RELOAD):
                if self._ready and not self._stop.is_set() and self._feeders is not None:
                    self._feeders.start_soon(self._reload)
                else:
                    log.info("received %s while starting or stopping: ignored", request)
            elif request == FORCE:  # the first process was told twice
                if not self._stop.is_set():
                    self._stop.set()
                if not self._forced:
                    self._force(request)
            elif not self._stop.is_set():
                if self.is_child:
                    log.info("stopping with the first process")
                else:
                    log.info("received %s, stopping", request)
                self._stop.set()
            elif self.is_child:
                continue  # end of input after `stop`: already stopping
            elif not self._forced:
                self._force(request)
            else:
                os._exit(EXIT_FORCED)

    def _force(self, request: str) -> None:
        self._forced = True
        if self.is_child:
            log.warning("stopping now with the first process; running tasks: %s", _WHO_RUNS_THEM)
        else:
            log.warning(
                "received %s again: stopping now; running tasks: %s", request, _WHO_RUNS_THEM
            )
        self._work.cancel()
        if not self._work_entered and self._outer is not None:
            self._outer.cancel_scope.cancel()
        assert self._outer is not None
        if self.group is not None:
            self._outer.start_soon(self.group.force)
        self._outer.start_soon(_exit_after, FORCED_EXIT_DEADLINE)

    async def _reload(self) -> None:
        """SIGHUP: apply what can change live, report the rest, reconcile the folder."""
        if self._reloading:
            return
        self._reloading = True
        self.notifier.reloading()
        log.info("reloading (SIGHUP)")
        try:
            try:
                fresh = self.overrides.apply(load_config(self.config_path))
            except ConfigError as exc:
                log.error("reload: %s; keeping the running configuration", exc)
            else:
                self._apply(fresh)
            if self.group is not None:
                await self.group.reload()
            if self.sync is not None:
                await self.sync.reconcile(from_store=True)
        except Exception as exc:
            log.error("reload failed: %s", _describe(exc), exc_info=exc)
        finally:
            self._reloading = False
            self.notifier.ready(self._status())

    def _apply(self, fresh: Config) -> None:
        old, new = _flatten(msgspec.to_builtins(self.config)), _flatten(msgspec.to_builtins(fresh))
        for key in sorted(set(old) | set(new)):
            if old.get(key) == new.get(key):
                continue
            if key in LIVE_KEYS:
                log.info("reload: %s is now %r", key, new.get(key))
            else:
                log.warning("reload: %s changed; it takes effect at the next start", key)
        set_level(fresh.logging.level)
        self.config.logging.level = fresh.logging.level

    # -- reporting --------------------------------------------------------------------------
    def _counts(self) -> str:
        engine = self.engine
        flows = sum(1 for row in engine.flows.rows() if not (row.disabled or row.deleted))
        problems = self.sync.problem_count if self.sync else 0
        text = f"{flows} flow(s), {engine.worker.running} task(s) running"
        return text + (f", {problems} flow file(s) with problems" if problems else "")

    def _status(self) -> str:
        if self._stop.is_set():
            return f"draining: {self.engine.worker.running} task(s) running"
        return f"{self._counts()}; API on {self.address}"

    def _report_failure(self, exc: BaseException) -> None:
        for leaf in _leaves(exc):
            if id(leaf) in self._logged:
                continue
            if isinstance(leaf, CLEAR_ERRORS):
                log.critical("%s", leaf)
            else:
                log.critical("kestrad failed: %s", _describe(leaf), exc_info=leaf)
        log.critical("kestrad stopped after a failure")


# -- the HTTP server ------------------------------------------------------------------------------
class EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop, without its signal handlers.

    `Server.serve` wraps itself in `capture_signals`, which replaces the SIGTERM/SIGINT
    handlers and re-raises the signals when it ends: the daemon owns those signals (drain,
    second signal), so this is a no-op here.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _uvicorn_config(app: Any, config: Config) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=config.server.host,
        port=config.server.port,
        lifespan="off",
        # httptools parses a request in a fraction of h11's CPU time; the loop is uvloop.
        # The subclass adds a deadline for request headers (slow clients).
        http=header_deadline_protocol(parse_duration(config.server.header_timeout).total_seconds()),
        timeout_keep_alive=max(
            1, round(parse_duration(config.server.keep_alive_timeout).total_seconds())
        ),
        limit_concurrency=config.server.max_connections,
        proxy_headers=False,  # no proxy in front by default; saves a middleware per request
        log_config=None,  # keep our handlers (journald format)
        access_log=False,
        server_header=False,
        # Open requests (an SSE follow, `?wait=true`) get this long once stopping begins.
        timeout_graceful_shutdown=5,
    )


def _listen(host: str, port: int) -> socket.socket:
    """Bind before anything else starts, so a taken port is a clear error, not a half start."""
    try:
        family, _, _, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.create_server(address, family=family, backlog=2048)
    except OSError as exc:
        raise DaemonError(
            f"cannot listen on {host}:{port} (server.host, server.port): {exc.strerror or exc}"
        ) from None
    sock.set_inheritable(False)
    return sock


def _ensure_folder(path: str) -> None:
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DaemonError(f"flows.path {path}: cannot create it: {exc.strerror or exc}") from None
    if not Path(path).is_dir():
        raise DaemonError(f"flows.path {path}: not a folder")


# -- small helpers --------------------------------------------------------------------------------
def _send_or_drop(send: anyio.abc.ObjectSendStream[str], word: str) -> None:
    """On the loop: pass a word read from stdin on; dropped once the daemon stopped reading."""
    with contextlib.suppress(
        anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError
    ):
        send.send_nowait(word)


async def _exit_after(seconds: float) -> None:
    """After a second signal, closing the store may not hang the exit for long."""
    await anyio.sleep(seconds)
    log.error("still closing after %.0fs: exiting without a clean close", seconds)
    os._exit(EXIT_FORCED)


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value and not dotted.startswith("variables.globals"):
            out.update(_flatten(value, dotted))
        else:
            out[dotted] = value
    return out
