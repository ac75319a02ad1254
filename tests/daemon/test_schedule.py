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


HOURLY = """
id: hourly
namespace: tests.schedule
tasks:
  - id: say
    type: io.kestra.plugin.core.log.Log
    message: "for {{ trigger.date }}"
triggers:
  - id: every-hour
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
    timezone: UTC
"""


def test_backfill_through_the_api_fires_each_past_hour_once(
    daemon: Daemon, view: StoreView
) -> None:
    import json
    import urllib.error
    from datetime import UTC, datetime, timedelta

    daemon.start()
    daemon.write_flow("hourly.yml", HOURLY)
    base = "/api/v1/main/triggers/tests.schedule/hourly/every-hour/backfill"
    wait_until(
        lambda: daemon.request("GET", "/api/v1/main/triggers/search?namespace=tests.schedule")[
            "results"
        ],
        what="the trigger",
    )
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    body = {
        "start": (now - timedelta(hours=3)).isoformat(),
        "end": now.isoformat(),
        "labels": {"origin": "backfill"},
    }
    started = daemon.request(
        "POST", base, json.dumps(body).encode(), **{"Content-Type": "application/json"}
    )
    assert started["backfill"]["paused"] is False

    def fired() -> list:
        rows = view._query("SELECT value FROM executions WHERE flow_id = 'hourly'")
        return [decode_execution(r[0]) for r in rows]

    wait_until(lambda: len(fired()) == 3, timeout=30, what="three backfilled executions")
    dates = sorted(e.trigger.variables["date"] for e in fired())
    hours = [(now - timedelta(hours=h)).replace(minute=0) for h in (2, 1, 0)]
    assert [d[:13] for d in dates] == [h.isoformat()[:13] for h in hours]
    assert all(e.label_map().get("origin") == "backfill" for e in fired())
    time.sleep(1.5)
    assert len(fired()) == 3, "a backfilled fire time ran twice"

    for bad in ({"end": now.isoformat()}, {"start": "yesterday"}):
        try:
            daemon.request(
                "POST", base, json.dumps(bad).encode(), **{"Content-Type": "application/json"}
            )
        except urllib.error.HTTPError as exc:
            assert exc.code == 400
        else:
            raise AssertionError(f"{bad} was accepted")
    long = {"start": (now - timedelta(days=30)).isoformat()}
    daemon.request("POST", base, json.dumps(long).encode(), **{"Content-Type": "application/json"})
    paused = daemon.request("POST", base + "/pause", b"")
    assert paused["backfill"]["paused"] is True
    resumed = daemon.request("POST", base + "/resume", b"")
    assert resumed["backfill"]["paused"] is False
    removed = daemon.request("DELETE", base)
    assert removed["backfill"] is None
