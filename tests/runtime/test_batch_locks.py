"""What an executor batch declares before it reads (BatchLocks), and QUEUE wake-ups.

`window_keys` must name every Flow-trigger window an ending execution may read or write
(a store shared by several daemons locks and reads only those), and as few others as the
flows alone can rule out. `Admission.ended` wakes one queued execution per free slot.
"""

from __future__ import annotations

from typing import Any

from kestrad.flows.loader import load_flow
from kestrad.model import state as S
from kestrad.model.execution import Execution
from kestrad.runtime.concurrency import Admission
from kestrad.runtime.flow_triggers import window_keys

NS = "company.team"


def _listener(trigger_body: str) -> tuple[Any, Any]:
    flow = load_flow(
        f"""
id: listener
namespace: {NS}
tasks:
  - id: only
    type: io.kestra.plugin.core.debug.Return
    format: hi
triggers:
  - id: on_upstreams
    type: io.kestra.plugin.core.trigger.Flow
{trigger_body}
"""
    )
    return flow, flow.triggers[0]


PRECONDITIONS = """
    preconditions:
      id: both
      flows:
        - namespace: company.team
          flowId: a
        - namespace: company.other
"""


def test_preconditions_name_their_window_only_for_an_upstream_they_may_match() -> None:
    flow, trigger = _listener(PRECONDITIONS)
    key = (NS, "listener", "on_upstreams", "both")
    assert window_keys(flow, trigger, [(NS, "a")]) == [key]
    assert window_keys(flow, trigger, [("company.other", "anything")]) == [key]
    assert window_keys(flow, trigger, [(NS, "b"), ("company.elsewhere", "a")]) == []
    assert window_keys(flow, trigger, [(NS, "listener")]) == []  # never itself


def test_where_filters_on_flow_and_namespace_decide_the_rest_may_match() -> None:
    flow, trigger = _listener(
        """
    preconditions:
      id: filtered
      where:
        - id: prod
          filters:
            - field: NAMESPACE
              type: STARTS_WITH
              value: company.
            - field: EXPRESSION
              type: IS_TRUE
              value: "{{ labels.go }}"
"""
    )
    assert window_keys(flow, trigger, [("company.x", "f")]) != []
    assert window_keys(flow, trigger, [("other.x", "f")]) == []


def test_multiple_condition_windows_all_named_when_one_condition_may_match() -> None:
    flow, trigger = _listener(
        """
    conditions:
      - type: io.kestra.plugin.core.condition.MultipleCondition
        id: pair
        window: P1D
        conditions:
          first:
            type: io.kestra.plugin.core.condition.ExecutionFlow
            namespace: company.team
            flowId: a
          second:
            type: io.kestra.plugin.core.condition.ExecutionNamespace
            namespace: company.b
    preconditions:
      id: also
      flows:
        - namespace: company.c
          flowId: c
"""
    )
    both = [(NS, "listener", "on_upstreams", "pair"), (NS, "listener", "on_upstreams", "also")]
    assert window_keys(flow, trigger, [(NS, "a")]) == both  # a fire resets every window
    assert window_keys(flow, trigger, [("company.b", "z")]) == both
    assert window_keys(flow, trigger, [("company.c", "c")]) == both
    assert window_keys(flow, trigger, [(NS, "z")]) == []


def test_an_expression_condition_may_match_anything() -> None:
    flow, trigger = _listener(
        """
    conditions:
      - type: io.kestra.plugin.core.condition.MultipleCondition
        id: loose
        window: P1D
        conditions:
          any:
            type: io.kestra.plugin.core.condition.Expression
            expression: "{{ true }}"
"""
    )
    assert window_keys(flow, trigger, [("x", "y")]) == [(NS, "listener", "on_upstreams", "loose")]


class _View:
    def __init__(self, running: int, queued: list[str]) -> None:
        self.running, self.queued = running, queued

    def running_count(self, namespace: str, flow_id: str) -> int:
        return self.running

    def queued_ids(self, namespace: str, flow_id: str, limit: int) -> list[str]:
        return self.queued[:limit]

    def trigger_window(self, *key: str) -> None:
        return None


def _limited(limit: int) -> Any:
    return load_flow(
        f"""
id: gated
namespace: {NS}
concurrency:
  limit: {limit}
  behavior: QUEUE
tasks:
  - id: only
    type: io.kestra.plugin.core.debug.Return
    format: hi
"""
    )


def _execution(flow: Any) -> Execution:
    return Execution.new(namespace=flow.namespace, flow_id=flow.id, flow_revision=1)


def test_an_end_wakes_one_queued_execution_per_free_slot() -> None:
    flow = _limited(3)
    # Two running (one is ending now), one slot was free already: two slots to fill.
    admission = Admission(_View(running=2, queued=["q1", "q2", "q3", "q4"]))
    ending = _execution(flow)
    assert admission.ended(ending, flow, S.RUNNING) == ["q1", "q2"]
    # A second end in the same batch frees one more slot: one more, not the same ones.
    assert admission.ended(_execution(flow), flow, S.RUNNING) == ["q3"]


def test_an_end_wakes_at_least_one_even_when_the_count_says_full() -> None:
    flow = _limited(1)
    admission = Admission(_View(running=3, queued=["q1", "q2"]))
    assert admission.ended(_execution(flow), flow, S.RUNNING) == ["q1"]
