"""Polling triggers: `http.Trigger` against a local HTTP server, evaluated beside the tick."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import pytest

from kestrad.expr.engine import Renderer
from kestrad.runtime.engine import Engine
from kestrad.runtime.polling import Poller
from kestrad.runtime.scheduler import Scheduler, SchedulerConfig
from kestrad.runtime.trigger_locks import released_locks
from kestrad.store.factory import open_store
from tests.scheduler.helpers import Clock, at, scheduler_for

pytestmark = pytest.mark.anyio
KEY = ("company.team", "watch", "http")


class Server:
    """A local HTTP server whose answer the test sets: status, body, delay."""

    def __init__(self) -> None:
        self.status = 200
        self.body = json.dumps({"ready": True})
        self.delay = 0.0
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                payload = self.rfile.read(length) if length else b""
                server.requests.append((self.command, self.path, dict(self.headers), payload))
                time.sleep(server.delay)
                data = server.body.encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Probe", "yes")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> Server:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    with Server() as running:
        yield running


def watch_flow(url: str, extra: str = "") -> str:
    return f"""
id: watch
namespace: company.team
tasks:
  - id: seen
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ trigger.code }}}} {{{{ trigger.body }}}}"
triggers:
  - id: http
    type: io.kestra.plugin.core.http.Trigger
    uri: "{url}/status?flow={{{{ flow.id }}}}"
    interval: PT10S
{extra}
"""


async def _until(check, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await anyio.sleep(0.01)


async def _polling(store, sources: list[str], clock: Clock) -> Scheduler:
    scheduler, _ = await scheduler_for(store, sources, clock)
    scheduler.poller = Poller(scheduler.polled, scheduler.renderer)
    return scheduler


async def test_a_passing_response_creates_an_execution_with_the_response(
    tmp_path, server: Server
) -> None:
    store = open_store(f"sqlite:///{tmp_path}/k.db")
    await store.migrate()
    clock = Clock(at("2024-03-10 08:00:00"))
    scheduler = await _polling(store, [watch_flow(server.url)], clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.poller.run)
        clock.advance(10)
        first = await scheduler.tick()
        assert first.created == []  # the poll runs beside the tick
        await _until(scheduler.firing.has_results)
        report = await scheduler.tick()
        tg.cancel_scope.cancel()
    [execution] = report.created
    variables = execution.trigger.variables
    assert variables["uri"] == f"{server.url}/status?flow=watch"
    assert variables["code"] == 200
    assert json.loads(variables["body"]) == {"ready": True}
    assert variables["headers"]["x-probe"] == ["yes"]
    assert scheduler.state(KEY).execution_id == execution.id  # one execution at a time
    stored = await store.get_execution(execution.id)
    assert stored is not None and stored.trigger.type == "io.kestra.plugin.core.http.Trigger"
    await store.close()


async def test_a_failing_condition_creates_nothing_and_polls_again(
    tmp_path, server: Server
) -> None:
    server.status = 503
    store = open_store(f"sqlite:///{tmp_path}/k.db")
    await store.migrate()
    clock = Clock(at("2024-03-10 08:00:00"))
    scheduler = await _polling(store, [watch_flow(server.url)], clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.poller.run)
        for _ in range(2):
            clock.advance(10)
            await scheduler.tick()
            await _until(scheduler.firing.has_results)
            assert (await scheduler.tick()).created == []
        tg.cancel_scope.cancel()
    assert len(server.requests) == 2
    assert scheduler.state(KEY).execution_id is None
    await store.close()


async def test_method_headers_body_and_a_custom_condition(tmp_path, server: Server) -> None:
    extra = """    method: POST
    headers:
      X-Token: "t-{{ flow.namespace }}"
    body: '{"ask": "{{ flow.id }}"}'
    responseCondition: "{{ response.statusCode == 200 and response.headers['x-probe'][0] == 'yes' }}"
"""
    store = open_store(f"sqlite:///{tmp_path}/k.db")
    await store.migrate()
    clock = Clock(at("2024-03-10 08:00:00"))
    scheduler = await _polling(store, [watch_flow(server.url, extra)], clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.poller.run)
        clock.advance(10)
        await scheduler.tick()
        await _until(scheduler.firing.has_results)
        report = await scheduler.tick()
        tg.cancel_scope.cancel()
    assert len(report.created) == 1
    method, _, headers, payload = server.requests[0]
    assert method == "POST"
    assert headers["X-Token"] == "t-company.team"
    assert json.loads(payload) == {"ask": "watch"}
    await store.close()


async def test_a_slow_endpoint_never_delays_a_tick(tmp_path, server: Server) -> None:
    server.delay = 1.5
    store = open_store(f"sqlite:///{tmp_path}/k.db")
    await store.migrate()
    clock = Clock(at("2024-03-10 08:00:00"))
    scheduler = await _polling(store, [watch_flow(server.url)], clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.poller.run)
        clock.advance(10)
        durations = [(await scheduler.tick()).seconds]
        for _ in range(5):  # the trigger is off the heap while its poll runs
            clock.advance(10)
            durations.append((await scheduler.tick()).seconds)
            await anyio.sleep(0.05)
        assert scheduler.poller.running == 1
        await _until(scheduler.firing.has_results)
        assert len((await scheduler.tick()).created) == 1
        tg.cancel_scope.cancel()
    assert max(durations) < 0.5
    assert len(server.requests) == 1
    await store.close()


async def test_an_unreachable_endpoint_is_a_logged_failure(tmp_path, caplog) -> None:
    store = open_store(f"sqlite:///{tmp_path}/k.db")
    await store.migrate()
    clock = Clock(at("2024-03-10 08:00:00"))
    scheduler = await _polling(store, [watch_flow("http://127.0.0.1:9")], clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(scheduler.poller.run)
        clock.advance(10)
        await scheduler.tick()
        await _until(scheduler.firing.has_results)
        assert (await scheduler.tick()).created == []
        tg.cancel_scope.cancel()
    assert any("evaluation failed" in r.getMessage() for r in caplog.records)
    clock.advance(10)
    await scheduler.tick()
    assert scheduler.index.waiting(KEY)  # polled again at its next interval
    await store.close()


async def test_the_execution_runs_and_its_end_unlocks_the_trigger(tmp_path, server) -> None:
    async with Engine.open(f"sqlite:///{tmp_path}/k.db") as engine:
        await engine.deploy_source(watch_flow(server.url).replace("PT10S", "PT0.2S"))
        scheduler = Scheduler(
            engine.store,
            engine.flows,
            renderer=engine.renderer,
            config=SchedulerConfig(tick="PT0.1S"),
            wake=engine.hub.executor_wake.set,
        )
        engine.executor.ended_listeners.append(scheduler.execution_ended)
        async with anyio.create_task_group() as tg:
            tg.start_soon(scheduler.run)
            deadline = time.monotonic() + 10
            finished: list = []
            while time.monotonic() < deadline and len(finished) < 2:
                await anyio.sleep(0.1)
                executions = await engine.list_executions("company.team", "watch")
                finished = [e for e in executions if e.terminated]
            tg.cancel_scope.cancel()
        assert len(finished) >= 2, "the trigger was not unlocked after its execution"
        done = finished[0]
        assert done.state.current == "SUCCESS"
        assert done.task_run_list[0].outputs["value"].startswith("200 ")
        row = await engine.store.get_trigger(*KEY)
        assert row is not None


def test_ended_executions_release_their_scheduler_locks_only() -> None:
    from kestrad.model.execution import Execution, ExecutionTrigger

    def ended(trigger_type: str | None) -> Execution:
        trigger = ExecutionTrigger(id="t", type=trigger_type) if trigger_type else None
        return Execution.new(namespace="n", flow_id="f", flow_revision=1, trigger=trigger)

    kinds = [
        "io.kestra.plugin.core.trigger.Schedule",
        "io.kestra.core.models.triggers.types.Schedule",
        "io.kestra.plugin.core.http.Trigger",
        "io.kestra.plugin.core.trigger.Flow",
        None,
    ]
    executions = [ended(k) for k in kinds]
    released = released_locks(executions)
    assert [r[3] for r in released] == [e.id for e in executions[:3]]


async def test_the_end_of_a_scheduled_execution_clears_its_lock_in_the_same_commit(
    tmp_path,
) -> None:
    """Without the scheduler's notice (another process, or a crash after the commit) the
    lock is gone as soon as the execution's end is stored."""
    from tests.scheduler.helpers import schedule_flow

    async with Engine.open(f"sqlite:///{tmp_path}/k.db") as engine:
        source = schedule_flow("every_second", "* * * * * *", extra="    withSeconds: true")
        await engine.deploy_source(source)
        scheduler = Scheduler(engine.store, engine.flows, renderer=Renderer())
        await scheduler.start()
        key = ("company.team", "every_second", "schedule")
        scheduler.state(key).next_fire_at = float(int(time.time()))  # one date due, not two
        scheduler.index.push(key)
        [execution] = (await scheduler.tick()).created
        assert (await engine.store.get_trigger(*key)).execution_id == execution.id
        done = await engine.wait_for(execution.id)
        assert done.state.current == "SUCCESS"
        assert (await engine.store.get_trigger(*key)).execution_id is None
