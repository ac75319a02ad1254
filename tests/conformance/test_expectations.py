"""The conformance comparator against hand-built executions: each key passes and fails.

A comparator that passes everything would make the whole corpus meaningless, so every key is
shown failing as well as passing.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from .expectations import (
    WILDCARD,
    Placeholders,
    check_execution,
    describe,
    others_pending,
    outputs_view,
    parse_path,
    resolve_path,
    same,
)

_ids = itertools.count(1)


def state(current: str, *history: str) -> dict[str, Any]:
    states = [*history, current] if history else [current]
    return {
        "current": current,
        "histories": [
            {"state": s, "date": f"2024-01-01T00:00:0{i}Z"} for i, s in enumerate(states)
        ],
    }


def run(
    task_id: str,
    current: str = "SUCCESS",
    *,
    parent: dict[str, Any] | None = None,
    value: str | None = None,
    outputs: dict[str, Any] | None = None,
    attempts: int = 1,
) -> dict[str, Any]:
    return {
        "id": f"tr{next(_ids)}",
        "executionId": "e1",
        "taskId": task_id,
        "parentTaskRunId": parent["id"] if parent else None,
        "value": value,
        "iteration": None,
        "attempts": [{"state": state(current)} for _ in range(attempts)] or None,
        "outputs": outputs or {},
        "state": state(current),
    }


def execution(
    *runs: dict[str, Any],
    current: str = "SUCCESS",
    history: tuple[str, ...] = ("CREATED", "RUNNING"),
    id: str = "e1",
    flow: str = "io.kestra.tests/flow",
    outputs: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
    triggered_by: str | None = None,
) -> dict[str, Any]:
    namespace, flow_id = flow.rsplit("/", 1)
    return {
        "id": id,
        "namespace": namespace,
        "flowId": flow_id,
        "flowRevision": 1,
        "state": state(current, *history),
        "inputs": {},
        "outputs": outputs or {},
        "labels": [{"key": k, "value": v} for k, v in (labels or {}).items()],
        "trigger": (
            {
                "id": "subflow",
                "type": "io.kestra.plugin.core.flow.Subflow",
                "variables": {"executionId": triggered_by},
            }
            if triggered_by
            else None
        ),
        "parentId": None,
        "originalId": id,
        "taskRunList": list(runs),
    }


@dataclass
class Log:
    task_id: str
    level: str
    message: str


def check(expect: dict[str, Any], ex: dict[str, Any], **kwargs: Any) -> list[str]:
    kwargs.setdefault("placeholders", Placeholders(execution_id="e1"))
    return check_execution(expect, ex, **kwargs)


# -- execution-level keys ------------------------------------------------------------------------


def test_state() -> None:
    ex = execution(current="FAILED")
    assert check({"state": "FAILED"}, ex) == []
    assert check({"state": "SUCCESS"}, ex) == ["state: expected SUCCESS, got FAILED"]


def test_task_run_count() -> None:
    ex = execution(run("a"), run("b"))
    assert check({"taskRunCount": 2}, ex) == []
    [problem] = check({"taskRunCount": 3}, ex)
    assert problem.startswith("taskRunCount: expected 3, got 2")


def test_flow_outputs_are_exact_and_typed() -> None:
    ex = execution(outputs={"key": '{"value":"x"}', "myout": ["1rstValue", "2ndValue"], "n": 1})
    assert (
        check({"flowOutputs": {"key": '{"value":"x"}', "myout": ["1rstValue", "2ndValue"]}}, ex)
        == []
    )
    assert check({"flowOutputs": {"n": "1"}}, ex) == ['flowOutputs.n: expected "1", got 1']
    assert check({"flowOutputs": {"myout": ["1rstValue"]}}, ex)
    [missing] = check({"flowOutputs": {"other": 1}}, ex)
    assert missing.startswith("flowOutputs.other: missing")


def test_labels_subset_with_placeholders() -> None:
    labelled = run("override-labels")
    ex = execution(
        labelled,
        labels={"system.correlationId": "e1", "k": labelled["id"], "extra": "ignored"},
    )
    expect = {
        "labels": {"system.correlationId": "$EXECUTION_ID", "k": "$TASKRUN_ID:override-labels"}
    }
    assert check(expect, ex) == []
    assert check({"labels": {"k": "other"}}, ex) == [
        f'labels.k: expected "other", got "{labelled["id"]}"'
    ]
    [missing] = check({"labels": {"absent": "x"}}, ex)
    assert missing.startswith("labels.absent: missing")


def test_labels_exact_is_the_whole_set() -> None:
    labelled = run("update-labels")
    ex = execution(labelled, labels={"system.correlationId": "e1", "k": labelled["id"]})
    expect = {
        "labelsExact": {"system.correlationId": "$EXECUTION_ID", "k": "$TASKRUN_ID:update-labels"}
    }
    assert check(expect, ex) == []
    [extra] = check({"labelsExact": {"system.correlationId": "$EXECUTION_ID"}}, ex)
    assert extra.startswith("labelsExact: expected")
    [wrong] = check({"labelsExact": {"system.correlationId": "e1", "k": "other"}}, ex)
    assert wrong.startswith("labelsExact: expected")
    [missing] = check(
        {"labelsExact": {"system.correlationId": "e1", "k": labelled["id"], "x": "y"}}, ex
    )
    assert missing.startswith("labelsExact: expected")


def test_labels_exact_refuses_a_key_twice() -> None:
    ex = execution()
    ex["labels"] = [{"key": "k", "value": "value1"}, {"key": "k", "value": "value2"}]
    problems = check({"labelsExact": {"k": "value2"}}, ex)
    assert problems == ["labelsExact: key(s) ['k'] appear more than once"]
    assert check({"labels": {"k": "value2"}}, ex) == []  # the subset key cannot see it


def test_flow_outputs_absent() -> None:
    assert check({"flowOutputsAbsent": True}, execution()) == []
    assert check({"flowOutputsAbsent": True}, execution(outputs={"optional": None})) == [
        'flowOutputsAbsent: the execution has outputs {"optional": null}'
    ]


def test_inputs_rejected_is_not_an_execution_check() -> None:
    [problem] = check({"state": "SUCCESS", "inputsRejected": "x"}, execution(current="FAILED"))
    assert problem == "state: expected SUCCESS, got FAILED"


def test_taskrun_placeholder_needs_a_single_run() -> None:
    ex = execution(labels={"k": "v"})
    [problem] = check({"labels": {"k": "$TASKRUN_ID:nope"}}, ex)
    assert "needs exactly one run of `nope`, found 0" in problem


def test_history_prefix_and_contains() -> None:
    ex = execution(history=("CREATED", "QUEUED", "RUNNING"))
    assert check({"historyPrefix": ["CREATED", "QUEUED", "RUNNING"]}, ex) == []
    assert check({"historyPrefix": ["CREATED", "RUNNING"]}, ex)
    assert check({"historyContains": ["QUEUED", "SUCCESS"]}, ex) == []
    assert check({"historyContains": ["PAUSED"]}, ex) == [
        "historyContains: PAUSED not in history ['CREATED', 'QUEUED', 'RUNNING', 'SUCCESS']"
    ]


# -- task-run keys -------------------------------------------------------------------------------


def test_task_states() -> None:
    ex = execution(run("ok"), run("ko", "FAILED"), run("twice"), run("twice"))
    assert check({"taskStates": {"ok": "SUCCESS", "ko": "FAILED"}}, ex) == []
    assert check({"taskStates": {"ko": "SUCCESS"}}, ex) == [
        "taskStates.ko: expected SUCCESS, got FAILED"
    ]
    assert check({"taskStates": {"none": "SUCCESS"}}, ex) == [
        "taskStates.none: no task run of `none`"
    ]
    [twice] = check({"taskStates": {"twice": "SUCCESS"}}, ex)
    assert "ran 2 times" in twice


def test_absent_tasks() -> None:
    ex = execution(run("a"))
    assert check({"absentTasks": ["b"]}, ex) == []
    assert check({"absentTasks": ["a"]}, ex) == ["absentTasks: `a` ran 1 time(s) (['SUCCESS'])"]


def test_attempts_and_min_attempts() -> None:
    ex = execution(
        run("fail", "FAILED", attempts=3),
        run("each", value="1", attempts=2),
        run("each", value="2", attempts=1),
    )
    assert check({"attempts": {"fail": 3}}, ex) == []
    assert check({"attempts": {"fail": 4}}, ex) == ["attempts.fail: expected 4, got 3"]
    assert check({"minAttempts": {"each": 1}}, ex) == []
    assert check({"minAttempts": {"each": 2}}, ex) == ["minAttempts.each[2]: expected >= 2, got 1"]
    assert check({"minAttempts": {"nope": 1}}, ex) == ["minAttempts.nope: no task run of `nope`"]


def test_attempts_none_counts_as_zero() -> None:
    flowable = run("seq")
    flowable["attempts"] = None
    assert check({"attempts": {"seq": 0}}, execution(flowable)) == []


# -- outputs -------------------------------------------------------------------------------------


def test_parse_path() -> None:
    assert parse_path("t2.value") == ["t2", "value"]
    assert parse_path('inputFiles.uris["input.txt"]') == ["inputFiles", "uris", "input.txt"]
    assert parse_path('2-1-1_switch-number-1["b"]["1"].value') == [
        "2-1-1_switch-number-1",
        "b",
        "1",
        "value",
    ]
    assert parse_path("json[*].value") == ["json", WILDCARD, "value"]
    assert parse_path("""a['x y'][0]""") == ["a", "x y", 0]
    with pytest.raises(ValueError):
        parse_path('a["unterminated')
    with pytest.raises(ValueError):
        parse_path(".value")


def test_outputs_view_nests_under_values_of_ancestors() -> None:
    each = run("1_each")
    outer = run("1-1_seq", parent=each, value="s1")
    inner_each = run("1-2_each", parent=outer)
    leaf = run("1-2-1_return", parent=inner_each, value="a a", outputs={"value": "x"})
    plain = run("2_return", outputs={"value": "y"})
    view = outputs_view(execution(each, outer, inner_each, leaf, plain))
    assert view["1-2-1_return"] == {"s1": {"a a": {"value": "x"}}}
    assert view["2_return"] == {"value": "y"}


def test_outputs_view_runs_without_value_under_a_valued_parent() -> None:
    each = run("each")
    iteration = run("each-seq", parent=each, value="v1")
    child = run("log", parent=iteration, outputs={"value": "a"})
    assert outputs_view(execution(each, iteration, child))["log"] == {"v1": {"value": "a"}}


def test_outputs_view_last_run_wins_and_empty_runs_do_not_hide() -> None:
    ex = execution(
        run("values", outputs={"values": {"count": "1"}}),
        run("values", outputs={"values": {"count": "4"}}),
        run("values"),
    )
    assert outputs_view(ex)["values"] == {"values": {"count": "4"}}


def test_outputs_exact() -> None:
    ex = execution(
        run("parent-seq", outputs={"value": "FIRST", "defaults": False}),
        run("get-log-task", outputs={"size": 1}),
        run("each", outputs={}),
        run("r", parent=None, value="b", outputs={"value": "1"}),
    )
    expect = {
        "outputs": {
            "parent-seq.value": "FIRST",
            "parent-seq.defaults": False,
            "get-log-task.size": 1,
            'r["b"].value': "1",
        }
    }
    assert check(expect, ex) == []
    assert check({"outputs": {"get-log-task.size": "1"}}, ex) == [
        'outputs.get-log-task.size: expected to equal "1", got get-log-task.size = 1'
    ]
    assert check({"outputs": {"parent-seq.defaults": 0}}, ex)
    assert check({"outputs": {'r["b"].value': 1}}, ex)
    [missing] = check({"outputs": {"parent-seq.nope": "x"}}, ex)
    assert (
        missing == "outputs.parent-seq.nope: parent-seq has no key `nope` (keys: defaults, value)"
    )
    [no_task] = check({"outputs": {"ghost.value": "x"}}, ex)
    assert "outputs has no key `ghost`" in no_task


def test_outputs_wildcard_passes_when_one_key_matches() -> None:
    ex = execution(
        run("json", value="a", outputs={"value": "json > JSON > 1"}),
        run("json", value="b", outputs={"value": 'json > JSON > ["my-complex"]'}),
    )
    assert check({"outputsContain": {"json[*].value": 'JSON > ["my-complex"]'}}, ex) == []
    [problem] = check({"outputsContain": {"json[*].value": "nothing"}}, ex)
    assert 'json["a"].value = "json > JSON > 1"' in problem
    assert check({"outputs": {"json[*].value": "json > JSON > 1"}}, ex) == []


def test_outputs_contain_and_match() -> None:
    ex = execution(
        run("launch", outputs={"outputs": {"extracted": "default > amazing > 2024"}, "n": 3}),
        run("end", outputs={"value": "kestra:///io/kestra/tests/file.txt"}),
    )
    assert check({"outputsContain": {"launch.outputs.extracted": "default > amazing"}}, ex) == []
    assert check({"outputsContain": {"launch.outputs.extracted": "boring"}}, ex)
    assert check({"outputsContain": {"launch.n": "3"}}, ex), "only strings contain substrings"
    assert check({"outputsMatch": {"end.value": "^kestra://"}}, ex) == []
    assert check({"outputsMatch": {"end.value": r"file\.txt$"}}, ex) == []
    assert check({"outputsMatch": {"end.value": "^file"}}, ex)
    [bad] = check({"outputsMatch": {"end.value": "("}}, ex)
    assert "bad regex" in bad


def test_outputs_placeholders() -> None:
    ex = execution(run("only", outputs={"value": "from parents: e1"}))
    assert check({"outputs": {"only.value": "from parents: $EXECUTION_ID"}}, ex) == []
    other = check(
        {"outputs": {"only.value": "from parents: $EXECUTION_ID"}},
        ex,
        placeholders=Placeholders("e2"),
    )
    assert other


def test_resolve_path_lists() -> None:
    found, why = resolve_path({"t": {"items": ["a", "b"]}}, "t.items[1]")
    assert found == [("t.items[1]", "b")] and why is None
    found, why = resolve_path({"t": {"items": ["a"]}}, "t.items[3]")
    assert found == [] and why == "t.items has 1 items, no index 3"


# -- logs ----------------------------------------------------------------------------------------


LOGS = [
    Log("t1", "TRACE", "first t1"),
    Log("t2", "WARN", "second io.kestra.plugin.core.log.Log"),
    Log("log-secret", "INFO", "the secret is ***"),
]


def test_logs_equals_contains_level() -> None:
    expect = {
        "logs": [
            {"task": "t1", "level": "TRACE", "equals": "first t1"},
            {"task": "t2", "equals": "second io.kestra.plugin.core.log.Log"},
            {"task": "log-secret", "contains": "***"},
            {"task": "t1"},
            {"task": "t4", "absent": True},
        ]
    }
    assert check(expect, execution(), logs=LOGS) == []
    assert check(
        {"logs": [{"task": "t1", "level": "INFO", "equals": "first t1"}]}, execution(), logs=LOGS
    )
    assert check({"logs": [{"task": "t1", "equals": "first"}]}, execution(), logs=LOGS)
    assert check({"logs": [{"task": "t2", "contains": "third"}]}, execution(), logs=LOGS)
    assert check({"logs": [{"task": "t1", "absent": True}]}, execution(), logs=LOGS)
    assert check({"logs": [{"task": "t9"}]}, execution(), logs=LOGS) == ["logs[t9]: no log line"]


def test_logs_accept_dicts_and_need_logs() -> None:
    as_dicts = [{"taskId": "t1", "level": "INFO", "message": "hi"}]
    assert check({"logs": [{"task": "t1", "equals": "hi"}]}, execution(), logs=as_dicts) == []
    assert check({"logs": [{"task": "t1"}]}, execution(), logs=None) == [
        "logs: no logs available for this execution"
    ]


# -- related executions --------------------------------------------------------------------------


def test_related_count_state_labels_and_nesting() -> None:
    parent = execution(id="e1", flow="io.kestra.tests/subflow-parent")
    child = execution(
        run("a"),
        id="c1",
        flow="io.kestra.tests/subflow-child",
        triggered_by="e1",
        labels={"system.correlationId": "e1"},
    )
    grand = execution(
        id="g1",
        flow="io.kestra.tests/subflow-grand-child",
        triggered_by="c1",
        labels={"system.correlationId": "e1"},
    )
    unrelated = execution(id="x1", flow="io.kestra.tests/subflow-child")
    pool = [parent, child, grand, unrelated]
    expect = {
        "related": [
            {
                "flow": "io.kestra.tests/subflow-child",
                "count": 1,
                "state": "SUCCESS",
                "taskRunCount": 1,
                "labels": {"system.correlationId": "$EXECUTION_ID"},
                "related": [
                    {
                        "flow": "io.kestra.tests/subflow-grand-child",
                        "count": 1,
                        "labels": {"system.correlationId": "$EXECUTION_ID"},
                    }
                ],
            }
        ]
    }
    assert check(expect, parent, executions=pool) == []

    failing = check(
        {"related": [{"flow": "io.kestra.tests/subflow-child", "count": 2, "state": "FAILED"}]},
        parent,
        executions=pool,
    )
    assert len(failing) == 2
    assert failing[0].startswith("related[io.kestra.tests/subflow-child]: expected 2 execution(s)")
    assert failing[1].endswith("state: expected FAILED, got SUCCESS")

    nested_wrong = check(
        {
            "related": [
                {
                    "flow": "io.kestra.tests/subflow-child",
                    "related": [{"flow": "io.kestra.tests/subflow-grand-child", "state": "FAILED"}],
                }
            ]
        },
        parent,
        executions=pool,
    )
    assert len(nested_wrong) == 1 and "subflow-grand-child" in nested_wrong[0]


def test_related_without_count_needs_one() -> None:
    parent = execution(id="e1")
    [problem] = check({"related": [{"flow": "ns/listener"}]}, parent, executions=[parent])
    assert problem == "related[ns/listener]: no related execution (related: none)"


def test_related_outputs_use_the_case_execution_id() -> None:
    parent = execution(id="e1")
    listener = execution(
        run("only-listener", outputs={"value": "childs: from parents: e1"}),
        id="l1",
        flow="ns/listener",
        triggered_by="e1",
    )
    expect = {
        "related": [
            {
                "flow": "ns/listener",
                "outputs": {"only-listener.value": "childs: from parents: $EXECUTION_ID"},
            }
        ]
    }
    assert check(expect, parent, executions=[listener]) == []


def test_flow_outputs_any_order() -> None:
    parent = execution(id="e1")
    children = [
        execution(id=f"c{i}", flow="ns/child", triggered_by="e1", outputs={"v": str(i)})
        for i in (1, 2)
    ]
    good = {"related": [{"flow": "ns/child", "flowOutputsAnyOrder": [{"v": "2"}, {"v": "1"}]}]}
    assert check(good, parent, executions=children) == []
    for maps in ([{"v": "1"}, {"v": "1"}], [{"v": "1"}], [{"v": "1"}, {"v": "2"}, {"v": "3"}]):
        bad = {"related": [{"flow": "ns/child", "flowOutputsAnyOrder": maps}]}
        assert check(bad, parent, executions=children), maps


def test_related_states_any_order_is_a_multiset() -> None:
    parent = execution(id="e1")
    children = [
        execution(id=f"c{i}", flow="ns/child", triggered_by="e1", current=current)
        for i, current in enumerate(["FAILED", "SUCCESS", "FAILED", "SUCCESS"])
    ]
    good = {
        "related": [
            {
                "flow": "ns/child",
                "count": 4,
                "statesAnyOrder": ["SUCCESS", "SUCCESS", "FAILED", "FAILED"],
            }
        ]
    }
    assert check(good, parent, executions=children) == []
    bad = {
        "related": [
            {"flow": "ns/child", "statesAnyOrder": ["SUCCESS", "FAILED", "FAILED", "FAILED"]}
        ]
    }
    [problem] = check(bad, parent, executions=children)
    assert problem.startswith("related[ns/child].statesAnyOrder: expected")
    waiting = {"related": [{"flow": "ns/child", "statesAnyOrder": ["SUCCESS"] * 5}]}
    assert others_pending(waiting, parent, children)
    assert not others_pending(good, parent, children)


def test_absent_related() -> None:
    flow_a = execution(id="a1")
    listener = execution(id="l1", flow="ns/listener", triggered_by="a1")
    assert check({"absentRelated": ["ns/listener"]}, flow_a, executions=[]) == []
    [problem] = check({"absentRelated": ["ns/listener"]}, flow_a, executions=[listener])
    assert problem.startswith("absentRelated: ns/listener has related executions")


def test_flow_execution_states_is_a_multiset() -> None:
    first = execution(id="e1", current="RETRIED", flow="ns/retry")
    retries = [
        execution(id="e2", current="RETRIED", flow="ns/retry"),
        execution(id="e3", current="FAILED", flow="ns/retry"),
        execution(id="o1", current="SUCCESS", flow="ns/other"),
    ]
    expect = {"flowExecutionStates": ["RETRIED", "FAILED", "RETRIED"]}
    assert check(expect, first, executions=retries) == []
    assert check(expect, first, executions=retries[1:])
    assert check({"flowExecutionStates": ["RETRIED", "FAILED"]}, first, executions=retries)


def test_others_pending() -> None:
    parent = execution(id="e1")
    running = execution(id="c1", flow="ns/child", triggered_by="e1", current="RUNNING")
    done = execution(id="c1", flow="ns/child", triggered_by="e1")
    expect = {"related": [{"flow": "ns/child"}]}
    assert others_pending(expect, parent, [])
    assert others_pending(expect, parent, [running])
    assert not others_pending(expect, parent, [done])
    assert others_pending({"related": [{"flow": "ns/child", "count": 2}]}, parent, [done])
    states = {"flowExecutionStates": ["RETRIED", "FAILED"]}
    retried = execution(id="e1", current="RETRIED")
    assert others_pending(states, retried, [])
    assert not others_pending(states, retried, [execution(id="e2", current="FAILED")])


# -- the rest ------------------------------------------------------------------------------------


def test_unknown_keys_fail_loudly() -> None:
    assert check({"stat": "SUCCESS"}, execution()) == [
        "unknown expectation keys ['stat']: the comparator cannot check them"
    ]
    assert check({"invalid": True, "reason": "x"}, execution())


def test_same_is_type_strict() -> None:
    assert same(1, 1) and same("1", "1") and same(False, False) and same(None, None)
    assert not same(1, True) and not same(True, 1) and not same(1, 1.0) and not same("1", 1)
    assert same({"a": [1, "2"]}, {"a": [1, "2"]}) and not same({"a": 1}, {"a": 1, "b": 2})


def test_describe_mentions_states_and_nesting() -> None:
    each = run("each", "FAILED")
    text = describe(execution(each, run("log", parent=each, value="1", outputs={"x": 1})))
    assert (
        "each FAILED attempts=1" in text and '  log[1] SUCCESS attempts=1 outputs={"x": 1}' in text
    )
