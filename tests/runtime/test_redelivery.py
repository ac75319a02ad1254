"""How `advance` takes a redelivered job's report (issue 11, items 6 and 7): the attempts
lost with their worker end RESUBMITTED, and a poison job's `final` failure skips retries.
The daemon-level behaviour (kill -9, attempt counts, max_deliveries) is in
tests/daemon/test_worker_crashes.py."""

from __future__ import annotations

import msgspec

from kestrad.model.messages import TaskResult
from tests.runtime.scenario import Scenario

FLOW = """
id: redelivered
namespace: tests.redelivery
tasks:
  - id: work
    type: io.kestra.plugin.core.log.Log
    message: hi
    retry:
      type: constant
      interval: PT1S
      maxAttempt: 5
"""


def _as_attempt(result: TaskResult, attempt: int, **changes: object) -> TaskResult:
    return msgspec.structs.replace(result, attempt=attempt, **changes)


def test_a_report_of_a_later_attempt_resubmits_the_lost_ones() -> None:
    s = Scenario(FLOW)
    s.start()
    running = s.result("work", "RUNNING")
    s.send(running)  # attempt 1 RUNNING, then its worker dies
    # The job came back twice more; the third delivery (attempt 3) reports success.
    s.send(_as_attempt(running, 3, state="SUCCESS"))
    run = s.run("work")
    assert [a.state.current for a in run.attempts] == ["RESUBMITTED", "RESUBMITTED", "SUCCESS"]
    assert [h.state for h in run.attempts[0].state.histories][-2:] == ["RUNNING", "RESUBMITTED"]
    assert [h.state for h in run.attempts[1].state.histories] == ["CREATED", "RESUBMITTED"]
    assert s.state("work") == "SUCCESS"
    assert s.state_now == "SUCCESS"


def test_a_late_report_of_a_resubmitted_attempt_is_ignored() -> None:
    s = Scenario(FLOW)
    s.start()
    first = s.result("work", "RUNNING")
    s.send(_as_attempt(first, 2, state="RUNNING"))
    s.send(_as_attempt(first, 1, state="FAILED"))  # the old worker was only frozen
    assert [a.state.current for a in s.run("work").attempts] == ["RESUBMITTED", "RUNNING"]
    assert s.state("work") == "RUNNING"


def test_a_final_failure_is_not_retried() -> None:
    s = Scenario(FLOW)
    s.start()
    failed = s.result("work", "FAILED")
    s.send(_as_attempt(failed, 4, final=True))
    assert s.state("work") == "FAILED"
    assert s.state_now == "FAILED"
    assert s.due_in() == []  # no RetryDue waiting


def test_an_ordinary_failure_is_still_retried() -> None:
    s = Scenario(FLOW)
    s.start()
    s.send(s.result("work", "FAILED"))
    assert s.state("work") == "RETRYING"
