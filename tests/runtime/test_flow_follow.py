"""Flow changes made by one process reach another's FlowCache, on both stores.

Each test opens two stores on one database, each with its own FlowCache: side A writes
as a process does (`FlowCache.deploy`, `set_flow_flags`), side B follows. B's clock is a
counter the test moves (it decides B's window); the rows' `updated` stamps are written by
the store's own clock, or rewritten to an older instant to play a late commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import asyncpg
import pytest

from kestrad.model.state import iso_from_epoch
from kestrad.runtime.flow_cache import FlowCache, source_digest
from kestrad.runtime.flow_follow import MARGIN, FlowFollower
from kestrad.store.base import FlowRow, Store
from kestrad.store.factory import open_store
from kestrad.store.session import Session
from kestrad.store.statements import Execute, Plan
from tests.conftest import postgres_database, require_postgres

pytestmark = pytest.mark.anyio

NAMESPACE = "tests.follow"


def _flow(flow_id: str, message: str = "hello") -> str:
    return f"""
id: {flow_id}
namespace: {NAMESPACE}
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "{message}"
"""


# Stored by a process whose plugins this one lacks: it validated there, it cannot load here.
UNLOADABLE = f"""
id: greet
namespace: {NAMESPACE}
tasks:
  - id: say
    type: io.kestra.plugin.gone.Removed
"""


class Clock:
    """B's clock: starts at the real time (the store stamps rows with it), moves on demand."""

    def __init__(self) -> None:
        self.at = time.time()

    def __call__(self) -> float:
        return self.at


@dataclass
class Side:
    store: Store
    flows: FlowCache
    changes: list[FlowRow] = field(default_factory=list)


@pytest.fixture
async def sides(database_url: str) -> AsyncIterator[tuple[Side, Side]]:
    """Two stores on one database (two processes of one daemon, or two daemons)."""
    a, b = open_store(database_url), open_store(database_url)
    await a.migrate()
    await b.migrate()
    try:
        yield Side(a, FlowCache(a)), Side(b, FlowCache(b))
    finally:
        await a.close()
        await b.close()


def _follower(side: Side, clock: Clock) -> FlowFollower:
    return FlowFollower(side.store, side.flows, side.changes.append, now=clock)


def _restamp(row: FlowRow, moment: float) -> Plan[int]:
    """Rewrite a revision's `updated` (flags unchanged): a row stamped at `moment` whose
    commit lands now, as a slow writer's (or a writer with a clock behind) does."""
    params = (row.disabled, row.deleted, iso_from_epoch(moment), row.namespace, row.id)
    return (yield Execute("flow_set_flags", (*params, row.revision)))


async def _deploy(side: Side, source: str) -> FlowRow:
    flow = await side.flows.deploy(source)
    row = side.flows.latest_row(flow.namespace, flow.id)
    assert row is not None
    return row


async def test_a_saved_flow_reaches_the_other_cache_once(sides: tuple[Side, Side]) -> None:
    a, b = sides
    clock = Clock()
    follower = _follower(b, clock)
    assert await follower.poll_once() == []

    saved = await _deploy(a, _flow("greet"))
    clock.at += 0.5
    applied = await follower.poll_once()
    assert applied == [saved]
    assert b.changes == [saved]
    assert b.flows.latest_row(NAMESPACE, "greet") == saved
    parsed = b.flows.latest(NAMESPACE, "greet")
    assert parsed is not None and parsed.revision == 1 and parsed.tasks[0].id == "say"

    clock.at += 0.5  # nothing changed: the same row is read again, and is no news
    assert await follower.poll_once() == []
    assert b.changes == [saved]

    second = await _deploy(a, _flow("greet", "hello again"))
    clock.at += 0.5
    assert await follower.poll_once() == [second]
    assert b.changes == [saved, second]
    latest = b.flows.latest(NAMESPACE, "greet")
    assert latest is not None and latest.revision == 2


async def test_revisions_saved_between_two_polls_announce_only_the_last(
    sides: tuple[Side, Side],
) -> None:
    a, b = sides
    clock = Clock()
    follower = _follower(b, clock)
    for n in range(3):
        last = await _deploy(a, _flow("greet", f"take {n}"))
    clock.at += 0.5
    assert await follower.poll_once() == [last]
    assert [row.revision for row in b.changes] == [3]


async def test_disable_delete_and_restore_reach_the_other_cache(
    sides: tuple[Side, Side],
) -> None:
    a, b = sides
    clock = Clock()
    follower = _follower(b, clock)
    saved = await _deploy(a, _flow("greet"))
    clock.at += 0.5
    await follower.poll_once()

    await a.store.set_flow_flags(saved, disabled=True, deleted=False)
    clock.at += 0.5
    [disabled] = await follower.poll_once()
    assert (disabled.revision, disabled.disabled, disabled.deleted) == (1, True, False)
    assert disabled.source == saved.source
    assert b.flows.latest_row(NAMESPACE, "greet") == disabled

    await a.store.set_flow_flags(saved, disabled=True, deleted=True)
    clock.at += 0.5
    [deleted] = await follower.poll_once()
    assert (deleted.disabled, deleted.deleted) == (True, True)

    restored = await _deploy(a, _flow("greet"))  # the same source again: enabled, undeleted
    assert restored.revision == 1
    clock.at += 0.5
    [back] = await follower.poll_once()
    assert (back.revision, back.disabled, back.deleted) == (1, False, False)
    assert [(r.disabled, r.deleted) for r in b.changes] == [
        (False, False),
        (True, False),
        (True, True),
        (False, False),
    ]
    clock.at += 0.5
    assert await follower.poll_once() == []


async def test_an_older_revision_never_replaces_a_newer_one(sides: tuple[Side, Side]) -> None:
    a, b = sides
    clock = Clock()
    follower = _follower(b, clock)
    first = await _deploy(a, _flow("greet", "one"))
    second = await _deploy(a, _flow("greet", "two"))
    clock.at += 0.5
    assert await follower.poll_once() == [second]

    # The old revision written after the new one (its flags, a later stamp), and alone in
    # the window (the new one's stamp is older than it): still old news.
    await a.store.connector.write(_restamp(second, clock.at - 10 * MARGIN))
    await a.store.set_flow_flags(first, disabled=True, deleted=False)
    clock.at += 0.5
    assert await follower.poll_once() == []
    assert b.flows.latest_row(NAMESPACE, "greet") == second
    assert b.changes == [second]


async def test_a_late_commit_stamped_before_the_last_poll_is_seen(
    sides: tuple[Side, Side],
) -> None:
    a, b = sides
    clock = Clock()
    follower = _follower(b, clock)
    previous_poll = clock.at
    assert await follower.poll_once() == []

    # Stamped 30 s before B's last poll began, committed only now: within MARGIN.
    saved = await _deploy(a, _flow("greet"))
    await a.store.connector.write(_restamp(saved, previous_poll - 30))
    clock.at += 0.5
    assert await follower.poll_once() == [saved]


async def test_the_clock_decides_the_window(sides: tuple[Side, Side]) -> None:
    a, b = sides
    clock = Clock()
    follower = _follower(b, clock)
    saved = await _deploy(a, _flow("greet"))
    await a.store.connector.write(_restamp(saved, clock.at - MARGIN - 5))
    assert await follower.poll_once() == []  # stamped before the first window
    assert b.changes == []

    clock.at -= 10  # a follower whose window reaches further back sees the same row
    earlier = _follower(Side(b.store, FlowCache(b.store)), clock)
    assert [row.revision for row in await earlier.poll_once()] == [1]

    # Past MARGIN after a poll, a row stamped before that poll's start is out of the window.
    clock.at += 10
    assert await follower.poll_once() == []
    other = await _deploy(a, _flow("other"))
    await a.store.connector.write(_restamp(other, clock.at - MARGIN - 1))
    clock.at += 0.5
    assert await follower.poll_once() == []
    await a.store.connector.write(_restamp(other, clock.at - MARGIN + 1))
    clock.at += 0.5
    assert await follower.poll_once() == [other]


async def test_a_revision_that_no_longer_loads_is_skipped_and_warned_once(
    sides: tuple[Side, Side], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = sides
    clock = Clock()
    follower = _follower(b, clock)
    good = await _deploy(a, _flow("greet"))
    clock.at += 0.5
    assert await follower.poll_once() == [good]

    caplog.set_level(logging.WARNING, logger="kestrad.flows")
    await a.store.save_flow(NAMESPACE, "greet", UNLOADABLE, source_digest(UNLOADABLE), None)
    other = await _deploy(a, _flow("other"))
    for poll in range(3):
        clock.at += 0.5
        applied = await follower.poll_once()
        assert applied == ([other] if poll == 0 else [])
    assert b.flows.latest_row(NAMESPACE, "greet") == good  # keeps what it had
    assert b.changes == [good, other]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f"{NAMESPACE}/greet revision 2" in warnings[0]
    assert "io.kestra.plugin.gone.Removed" in warnings[0]

    fixed = await _deploy(a, _flow("greet", "fixed"))  # revision 3 loads again
    clock.at += 0.5
    assert await follower.poll_once() == [fixed]


async def test_a_failing_listener_does_not_hold_back_other_changes(
    sides: tuple[Side, Side], caplog: pytest.LogCaptureFixture
) -> None:
    a, b = sides
    heard: list[str] = []

    def listener(row: FlowRow) -> None:
        heard.append(row.id)
        if row.id == "greet":
            raise RuntimeError("listener bug")

    follower = FlowFollower(b.store, b.flows, listener, now=Clock())
    await _deploy(a, _flow("greet"))
    await _deploy(a, _flow("other"))
    caplog.set_level(logging.ERROR, logger="kestrad.flows")
    assert [row.id for row in await follower.poll_once()] == ["greet", "other"]
    assert heard == ["greet", "other"]
    assert "a listener failed on the change of tests.follow/greet" in caplog.text
    assert await follower.poll_once() == []


async def test_the_loop_follows_changes_as_they_come(sides: tuple[Side, Side]) -> None:
    a, b = sides
    arrived = anyio.Event()

    def on_change(row: FlowRow) -> None:
        b.changes.append(row)
        if row.id == "late":
            arrived.set()

    follower = FlowFollower(b.store, b.flows, on_change)
    async with anyio.create_task_group() as tg:
        tg.start_soon(follower.run, 0.01)
        await _deploy(a, _flow("late"))
        with anyio.fail_after(10):
            await arrived.wait()
        tg.cancel_scope.cancel()
    assert [row.id for row in b.changes] == ["late"]


async def test_the_loop_outlives_a_postgres_connection_killed_mid_poll(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """B's poll waits on a table lock when its connection is terminated: the loop reports
    the outage once, tries again, and still sees the change (the window did not move)."""
    require_postgres()
    async with postgres_database() as url:
        a = open_store(url)
        b = open_store(url, session=Session(application_name="kestrad-follower-b"))
        await a.migrate()
        await b.migrate()
        admin = await asyncpg.connect(url)
        heard = anyio.Event()
        caplog.set_level(logging.INFO, logger="kestrad.store")
        try:
            side_a = Side(a, FlowCache(a))
            follower = FlowFollower(b, FlowCache(b), lambda row: heard.set())
            saved = await _deploy(side_a, _flow("greet"))
            async with anyio.create_task_group() as tg:
                async with admin.transaction():
                    await admin.execute("LOCK TABLE flows IN ACCESS EXCLUSIVE MODE")
                    tg.start_soon(follower.run, 0.01)
                    with anyio.fail_after(10):
                        while not await admin.fetchval(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                            "'Lock' AND application_name = 'kestrad-follower-b'"
                        ):
                            await anyio.sleep(0.01)
                    await admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'kestrad-follower-b'"
                    )
                with anyio.fail_after(10):
                    await heard.wait()
                tg.cancel_scope.cancel()
            assert follower.flows.latest_row(NAMESPACE, "greet") == saved
            messages = [(r.levelname, r.getMessage()) for r in caplog.records]
            assert any(
                level == "WARNING" and "following flow changes" in text for level, text in messages
            ), messages
            assert any("database reachable again" in text for _, text in messages), messages
        finally:
            await admin.close()
            await a.close()
            await b.close()
