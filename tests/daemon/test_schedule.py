"""A real daemon fires a `* * * * * *` (withSeconds) schedule once per second."""

from __future__ import annotations

import time

from kestrad.model.execution import decode_execution

from .helpers import Daemon, StoreView, wait_until

EVERY_SECOND = """
id: ticker
namespace: tests.schedule
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "tick {{ trigger.date }}"
triggers:
  - id: every-second
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "* * * * * *"
    withSeconds: true
"""


def _executions(view: StoreView) -> list:
    rows = view._query("SELECT value FROM executions WHERE flow_id = 'ticker'")
    return [decode_execution(row[0]) for row in rows]


def test_one_execution_per_second_for_ten_seconds(daemon: Daemon, view: StoreView) -> None:
    daemon.start()
    daemon.write_flow("ticker.yml", EVERY_SECOND)
    wait_until(lambda: len(_executions(view)) >= 1, timeout=20, what="the first fire")
    first = len(_executions(view))
    time.sleep(10)
    executions = _executions(view)
    fired = len(executions) - first
    assert 9 <= fired <= 11, f"{fired} executions in 10 s"
    dates = sorted(e.trigger.variables["date"] for e in executions)
    assert len(set(dates)) == len(dates), "a fire time produced two executions"
    wait_until(
        lambda: all(e.state.current == "SUCCESS" for e in _executions(view)[: len(executions) - 2]),
        timeout=15,
        what="the fired executions to succeed",
    )


def test_triggers_search_and_unlock_through_the_api(daemon: Daemon, view: StoreView) -> None:
    import urllib.error

    daemon.start()
    daemon.write_flow("ticker.yml", EVERY_SECOND)
    wait_until(lambda: len(_executions(view)) >= 1, timeout=20, what="the first fire")
    found = daemon.request("GET", "/api/v1/main/triggers/search?namespace=tests.schedule")
    assert [t["triggerId"] for t in found["results"]] == ["every-second"]
    assert found["results"][0]["flowId"] == "ticker"
    assert found["results"][0]["nextExecutionDate"].endswith("Z")
    unlocked = daemon.request(
        "POST", "/api/v1/main/triggers/tests.schedule/ticker/every-second/unlock", b""
    )
    assert unlocked["triggerId"] == "every-second" and unlocked["executionId"] is None
    try:
        daemon.request("POST", "/api/v1/main/triggers/tests.schedule/ticker/nope/unlock", b"")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    else:
        raise AssertionError("unlocking an unknown trigger did not fail")
    empty = daemon.request("GET", "/api/v1/main/triggers/search?namespace=other")
    assert empty["results"] == []
