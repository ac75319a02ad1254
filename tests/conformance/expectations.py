"""Compare one execution against a conformance case's `expect` block.

Pure functions over Kestra's Execution JSON (dicts), so the comparator can be tested without
an engine and reused by anything that can fetch executions (the in-process runner, a runner
talking to the HTTP API). The rules follow the corpus README word for word; where the README
leaves room, the choice is written next to the code.

Entry points:
- `check_execution(expect, execution, ...)` returns human-readable mismatches (empty = pass).
- `others_pending(expect, execution, executions)` says whether the related executions an
  `expect` block talks about may still change, so a runner knows whether waiting can help.
- `outputs_view(execution)` and `resolve_path(view, path)` expose the `outputs` variable.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Kestra's `State.Type.isTerminated()`. A runner may pass the engine's own set instead.
TERMINAL_STATES: frozenset[str] = frozenset(
    {"SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "RETRIED", "SKIPPED"}
)

EXECUTION_KEYS = frozenset(
    {
        "state",
        "taskRunCount",
        "flowOutputs",
        "labels",
        "labelsExact",
        "flowOutputsAbsent",
        "historyPrefix",
        "historyContains",
        "taskStates",
        "absentTasks",
        "attempts",
        "minAttempts",
        "outputs",
        "outputsContain",
        "outputsMatch",
        "logs",
        "related",
        "absentRelated",
        "flowExecutionStates",
    }
)
# `invalid`/`reason` belong to load-time cases and `inputsRejected` to cases whose execution
# must be refused at creation; the runner handles them before any execution exists.
CASE_ONLY_KEYS = frozenset({"invalid", "reason", "inputsRejected"})
RELATED_ONLY_KEYS = frozenset({"flow", "count", "flowOutputsAnyOrder", "statesAnyOrder"})

_MAX_SHOWN = 200

# Resolves placeholders in one expected value, or returns _UNRESOLVED after reporting why.
Expected = Callable[[Any, str], Any]


# -- placeholders ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placeholders:
    """What `$EXECUTION_ID` stands for: the case's own execution, even inside `related`.

    `$TASKRUN_ID:<taskId>` is resolved against the execution being checked, so it needs no
    field here.
    """

    execution_id: str


class _Unresolved:
    """Marks an expected value whose placeholder could not be resolved (already reported)."""


_UNRESOLVED = _Unresolved()


_TASKRUN_ID = re.compile(r"\$TASKRUN_ID:([A-Za-z0-9][A-Za-z0-9_-]*)")


def substitute(value: Any, placeholders: Placeholders | None, execution: Mapping[str, Any]) -> Any:
    """Replace placeholders inside every string of `value` (recursively).

    Raises `LookupError` when `$TASKRUN_ID:<taskId>` names a task that has no single run, since
    comparing against an unresolved placeholder would only produce a confusing mismatch.
    """
    if isinstance(value, str):
        if placeholders is not None:
            value = value.replace("$EXECUTION_ID", placeholders.execution_id)
        return _TASKRUN_ID.sub(lambda m: _single_task_run_id(execution, m.group(1)), value)
    if isinstance(value, list):
        return [substitute(item, placeholders, execution) for item in value]
    if isinstance(value, dict):
        return {key: substitute(item, placeholders, execution) for key, item in value.items()}
    return value


def _single_task_run_id(execution: Mapping[str, Any], task_id: str) -> str:
    runs = task_runs_of(execution, task_id)
    if len(runs) != 1:
        raise LookupError(
            f"$TASKRUN_ID:{task_id} needs exactly one run of `{task_id}`, found {len(runs)}"
        )
    return str(runs[0]["id"])


# -- output paths ------------------------------------------------------------------------------


class Wildcard:
    """The `[*]` segment: any key (or any item of a list) at that level."""

    def __repr__(self) -> str:
        return "[*]"


WILDCARD = Wildcard()
Segment = str | int | Wildcard

_PATH_TOKEN = re.compile(
    r"""
    \.(?P<dot>[^.\[\]]+)                       # .name
    | \[\s*"(?P<dq>(?:[^"\\]|\\.)*)"\s*\]      # ["name"]
    | \[\s*'(?P<sq>(?:[^'\\]|\\.)*)'\s*\]      # ['name']
    | \[\s*(?P<star>\*)\s*\]                   # [*]
    | \[\s*(?P<index>-?\d+)\s*\]               # [0] (list index, or key "0" on a map)
    """,
    re.VERBOSE,
)


def parse_path(path: str) -> list[Segment]:
    """Split an output path into its task id and segments.

    The task id runs to the first `.` or `[` (task ids never contain either). Raises
    `ValueError` on anything the README's path language does not describe, so a typo in a
    case fails loudly instead of matching nothing.
    """
    match = re.match(r"[^.\[\]]+", path)
    if match is None:
        raise ValueError(f"output path `{path}` does not start with a task id")
    segments: list[Segment] = [match.group(0)]
    position = match.end()
    while position < len(path):
        token = _PATH_TOKEN.match(path, position)
        if token is None:
            raise ValueError(f"output path `{path}`: cannot parse from `{path[position:]}`")
        if token.group("dot") is not None:
            segments.append(token.group("dot"))
        elif token.group("dq") is not None:
            segments.append(_unescape(token.group("dq")))
        elif token.group("sq") is not None:
            segments.append(_unescape(token.group("sq")))
        elif token.group("star") is not None:
            segments.append(WILDCARD)
        else:
            segments.append(int(token.group("index")))
        position = token.end()
    return segments


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def resolve_path(root: Any, path: str) -> tuple[list[tuple[str, Any]], str | None]:
    """Every value `path` reaches in `root`, each with the concrete path that reached it.

    Returns `(found, why_not)`: when nothing is found, `why_not` says where the walk stopped
    (and which keys were there instead), which is what one needs to debug a failing case.
    """
    segments = parse_path(path)
    found: list[tuple[str, Any]] = []
    misses: list[str] = []
    _walk(root, segments, "", found, misses)
    return found, (None if found else (misses[0] if misses else f"`{path}` not found"))


def _walk(
    node: Any, segments: Sequence[Segment], trail: str, found: list, misses: list[str]
) -> None:
    if not segments:
        found.append((trail, node))
        return
    head, rest = segments[0], segments[1:]
    where = trail or "outputs"
    if isinstance(head, Wildcard):
        if isinstance(node, Mapping):
            items: Iterable[tuple[Any, Any]] = node.items()
        elif isinstance(node, list):
            items = enumerate(node)
        else:
            misses.append(f"{where} is {_kind(node)}, cannot expand [*]")
            return
        items = list(items)
        if not items:
            misses.append(f"{where} is empty, [*] matches nothing")
        for key, child in items:
            _walk(child, rest, f"{trail}[{json.dumps(str(key))}]", found, misses)
        return
    if isinstance(node, Mapping):
        key = str(head)
        if key in node:
            _walk(node[key], rest, _join(trail, key), found, misses)
        else:
            keys = ", ".join(sorted(map(str, node)))[:_MAX_SHOWN]
            misses.append(f"{where} has no key `{key}` (keys: {keys or 'none'})")
        return
    if isinstance(node, list) and (isinstance(head, int) or head.lstrip("-").isdigit()):
        index = int(head)
        if -len(node) <= index < len(node):
            _walk(node[index], rest, f"{trail}[{index}]", found, misses)
        else:
            misses.append(f"{where} has {len(node)} items, no index {index}")
        return
    misses.append(f"{where} is {_kind(node)}, cannot read `{head}`")


def _join(trail: str, key: str) -> str:
    if not trail:
        return key
    if re.fullmatch(r"[A-Za-z0-9_-]+", key):
        return f"{trail}.{key}"
    return f"{trail}[{json.dumps(key)}]"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return f"a {type(value).__name__} {_show(value)}"


# -- the outputs variable ------------------------------------------------------------------------


def outputs_view(execution: Mapping[str, Any]) -> dict[str, Any]:
    """The `outputs` variable as a flow expression sees it once the execution has ended.

    A run created with a value nests under the values of its ancestors-with-value (outermost
    first) and then its own value; otherwise the run's outputs sit directly under its task id.
    Runs are applied in list order, so the last run of a task wins at its leaf. A run without
    outputs never hides an earlier run's outputs (Kestra skips runs whose outputs are null).
    """
    runs = list(execution.get("taskRunList") or [])
    by_id = {run.get("id"): run for run in runs}
    view: dict[str, Any] = {}
    for run in runs:
        outputs = run.get("outputs")
        node: dict[str, Any] = view
        key: str = run["taskId"]
        for value in value_chain(run, by_id):
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node, key = child, value
        if outputs or key not in node:
            node[key] = outputs if outputs is not None else {}
    return view


def value_chain(run: Mapping[str, Any], by_id: Mapping[Any, Mapping[str, Any]]) -> list[str]:
    """The values a run's outputs nest under: ancestors' (outermost first), then its own."""
    chain: list[str] = []
    if run.get("value") is not None:
        chain.append(str(run["value"]))
    seen = {run.get("id")}
    parent_id = run.get("parentTaskRunId")
    while parent_id is not None and parent_id not in seen:
        seen.add(parent_id)
        parent = by_id.get(parent_id)
        if parent is None:
            break
        if parent.get("value") is not None:
            chain.append(str(parent["value"]))
        parent_id = parent.get("parentTaskRunId")
    chain.reverse()
    return chain


# -- comparison helpers ------------------------------------------------------------------------


def same(expected: Any, actual: Any) -> bool:
    """Exact equality that also compares types: `'1'` is not `1`, `1` is not `True`/`1.0`.

    The corpus quotes expected values whose outputs are strings (`'1'`, `'4'`) and leaves
    numbers and booleans bare (`size: 1`, `defaults: false`), so the type is part of what a
    case asserts.
    """
    if isinstance(expected, Mapping):
        return (
            isinstance(actual, Mapping)
            and set(expected) == set(actual)
            and all(same(expected[key], actual[key]) for key in expected)
        )
    if isinstance(expected, list | tuple):
        return (
            isinstance(actual, list | tuple)
            and len(expected) == len(actual)
            and all(same(e, a) for e, a in zip(expected, actual, strict=True))
        )
    if expected is None or actual is None:
        return expected is None and actual is None
    return type(expected) is type(actual) and expected == actual


def _show(value: Any) -> str:
    """JSON with types visible (`"1"` vs `1`), shortened for huge values."""
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = f"{text[:_MAX_SHOWN]}… ({len(text)} chars)"
    return text


def _text(value: Any) -> str:
    """An expected substring or pattern as text; YAML may hand over a bare number."""
    return value if isinstance(value, str) else _show(value)


def task_runs_of(execution: Mapping[str, Any], task_id: str) -> list[Mapping[str, Any]]:
    return [run for run in execution.get("taskRunList") or [] if run.get("taskId") == task_id]


def _state(record: Mapping[str, Any] | None) -> str | None:
    state = (record or {}).get("state") or {}
    return state.get("current")


def _history(record: Mapping[str, Any]) -> list[str]:
    return [entry.get("state") for entry in ((record.get("state") or {}).get("histories") or [])]


def _flow_key(execution: Mapping[str, Any]) -> str:
    return f"{execution.get('namespace')}/{execution.get('flowId')}"


def _short(execution: Mapping[str, Any]) -> str:
    return f"{_flow_key(execution)}#{str(execution.get('id'))[:8]}"


def _attr(entry: Any, *names: str) -> Any:
    """Read a log entry field from an object or a dict (snake_case or camelCase)."""
    for name in names:
        if isinstance(entry, Mapping):
            if name in entry:
                return entry[name]
        elif hasattr(entry, name):
            return getattr(entry, name)
    return None


def related_of(
    execution: Mapping[str, Any], executions: Iterable[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """Executions started directly by `execution`: trigger variable `executionId` is its id."""
    own_id = execution.get("id")
    found = []
    for other in executions:
        trigger = other.get("trigger") or {}
        variables = trigger.get("variables") or {}
        if other.get("id") != own_id and variables.get("executionId") == own_id:
            found.append(other)
    return found


# -- the comparator ------------------------------------------------------------------------------


def check_execution(
    expect: Mapping[str, Any],
    execution: Mapping[str, Any],
    *,
    logs: Sequence[Any] | None = (),
    executions: Iterable[Mapping[str, Any]] = (),
    placeholders: Placeholders | None = None,
) -> list[str]:
    """Every way `execution` disagrees with `expect`; an empty list means it conforms.

    `logs` are the execution's log entries (objects or dicts with task_id, level, message);
    `None` means they are unavailable (as for related executions), which fails a `logs` key.
    `executions` are the other executions the case created: related executions are looked up
    among them, and `flowExecutionStates` counts those of the same flow (plus this one).
    """
    executions = list(executions)
    problems: list[str] = []
    unknown = sorted(set(expect) - EXECUTION_KEYS - CASE_ONLY_KEYS)
    if unknown:
        problems.append(f"unknown expectation keys {unknown}: the comparator cannot check them")
    if expect.get("invalid"):
        problems.append("the case expects the flow to be rejected, yet an execution was checked")

    def expected(value: Any, key: str) -> Any:
        try:
            return substitute(value, placeholders, execution)
        except LookupError as exc:
            problems.append(f"{key}: {exc}")
            return _UNRESOLVED

    if "state" in expect:
        want, got = expected(expect["state"], "state"), _state(execution)
        if want is not _UNRESOLVED and want != got:
            problems.append(f"state: expected {want}, got {got}")

    if "taskRunCount" in expect:
        runs = execution.get("taskRunList") or []
        if len(runs) != expect["taskRunCount"]:
            listed = ", ".join(f"{r.get('taskId')}={_state(r)}" for r in runs)[: _MAX_SHOWN * 2]
            problems.append(
                f"taskRunCount: expected {expect['taskRunCount']}, got {len(runs)} ({listed})"
            )

    if "flowOutputs" in expect:
        actual_outputs = execution.get("outputs") or {}
        for key, value in (expect["flowOutputs"] or {}).items():
            want = expected(value, f"flowOutputs.{key}")
            if want is _UNRESOLVED:
                continue
            if key not in actual_outputs:
                problems.append(
                    f"flowOutputs.{key}: missing (flow outputs: {_show(actual_outputs)})"
                )
            elif not same(want, actual_outputs[key]):
                problems.append(
                    f"flowOutputs.{key}: expected {_show(want)}, got {_show(actual_outputs[key])}"
                )

    if expect.get("flowOutputsAbsent") and execution.get("outputs"):
        problems.append(
            f"flowOutputsAbsent: the execution has outputs {_show(execution['outputs'])}"
        )

    if "labels" in expect:
        problems.extend(_check_labels(expect["labels"], execution, expected))

    if "labelsExact" in expect:
        problems.extend(_check_labels_exact(expect["labelsExact"], execution, expected))

    if "historyPrefix" in expect:
        history, prefix = _history(execution), list(expect["historyPrefix"])
        if history[: len(prefix)] != prefix:
            problems.append(f"historyPrefix: expected {prefix}, history is {history}")

    if "historyContains" in expect:
        history = _history(execution)
        for state in expect["historyContains"]:
            if state not in history:
                problems.append(f"historyContains: {state} not in history {history}")

    for task_id, state in (expect.get("taskStates") or {}).items():
        run, why = _single_run(execution, task_id)
        if run is None:
            problems.append(f"taskStates.{task_id}: {why}")
        elif _state(run) != state:
            problems.append(f"taskStates.{task_id}: expected {state}, got {_state(run)}")

    for task_id in expect.get("absentTasks") or []:
        runs = task_runs_of(execution, task_id)
        if runs:
            states = [_state(run) for run in runs]
            problems.append(f"absentTasks: `{task_id}` ran {len(runs)} time(s) ({states})")

    for task_id, count in (expect.get("attempts") or {}).items():
        run, why = _single_run(execution, task_id)
        if run is None:
            problems.append(f"attempts.{task_id}: {why}")
        elif len(run.get("attempts") or []) != count:
            problems.append(
                f"attempts.{task_id}: expected {count}, got {len(run.get('attempts') or [])}"
            )

    for task_id, minimum in (expect.get("minAttempts") or {}).items():
        runs = task_runs_of(execution, task_id)
        if not runs:
            problems.append(f"minAttempts.{task_id}: no task run of `{task_id}`")
        for run in runs:
            got = len(run.get("attempts") or [])
            if got < minimum:
                value = f"[{run.get('value')}]" if run.get("value") is not None else ""
                problems.append(f"minAttempts.{task_id}{value}: expected >= {minimum}, got {got}")

    if any(key in expect for key in ("outputs", "outputsContain", "outputsMatch")):
        problems.extend(_check_outputs(expect, outputs_view(execution), expected))

    if "logs" in expect:
        problems.extend(_check_logs(expect["logs"] or [], logs, expected))

    for entry in expect.get("related") or []:
        problems.extend(_check_related(entry, execution, executions, placeholders, expected))

    if "absentRelated" in expect:
        children = related_of(execution, executions)
        for flow in expect["absentRelated"] or []:
            present = [c for c in children if _flow_key(c) == flow]
            if present:
                listed = [f"{_short(c)} {_state(c)}" for c in present]
                problems.append(f"absentRelated: {flow} has related executions {listed}")

    if "flowExecutionStates" in expect:
        same_flow = _same_flow(execution, executions)
        got_states = Counter(_state(e) for e in same_flow)
        want_states = Counter(expect["flowExecutionStates"] or [])
        if got_states != want_states:
            problems.append(
                f"flowExecutionStates: expected {sorted(want_states.elements())}, "
                f"got {sorted(map(str, got_states.elements()))}"
            )
    return problems


def _single_run(execution: Mapping[str, Any], task_id: str) -> tuple[Mapping[str, Any] | None, str]:
    """The one run of `task_id`; keys like taskStates are only meant for tasks that run once."""
    runs = task_runs_of(execution, task_id)
    if not runs:
        return None, f"no task run of `{task_id}`"
    if len(runs) > 1:
        states = [_state(run) for run in runs]
        return None, f"`{task_id}` ran {len(runs)} times ({states}); expected a single run"
    return runs[0], ""


def _check_labels(
    labels: Mapping[str, Any], execution: Mapping[str, Any], expected: Expected
) -> list[str]:
    problems = []
    actual: dict[str, list[Any]] = {}
    for label in execution.get("labels") or []:
        actual.setdefault(label.get("key"), []).append(label.get("value"))
    for key, value in (labels or {}).items():
        want = expected(value, f"labels.{key}")
        if want is _UNRESOLVED:
            continue
        values = actual.get(key)
        if values is None:
            problems.append(f"labels.{key}: missing (labels: {_show(actual)})")
        elif not any(same(want, got) for got in values):
            shown = values[0] if len(values) == 1 else values
            problems.append(f"labels.{key}: expected {_show(want)}, got {_show(shown)}")
    return problems


def _check_labels_exact(
    labels: Mapping[str, Any], execution: Mapping[str, Any], expected: Expected
) -> list[str]:
    """The execution carries exactly these labels: no other key, and no key twice."""
    want: dict[str, Any] = {}
    for key, value in (labels or {}).items():
        resolved = expected(value, f"labelsExact.{key}")
        if resolved is _UNRESOLVED:
            return []
        want[key] = resolved
    got = [(label.get("key"), label.get("value")) for label in execution.get("labels") or []]
    keys = [key for key, _ in got]
    twice = sorted({str(key) for key in keys if keys.count(key) > 1})
    problems = [f"labelsExact: key(s) {twice} appear more than once"] if twice else []
    actual = dict(got)
    if set(actual) != set(want) or any(not same(want[k], actual[k]) for k in want):
        problems.append(f"labelsExact: expected {_show(want)}, got {_show(got)}")
    return problems


def _check_outputs(
    expect: Mapping[str, Any], view: Mapping[str, Any], expected: Expected
) -> list[str]:
    problems = []
    rules = (
        ("outputs", lambda want, got: same(want, got), "equal"),
        (
            "outputsContain",
            lambda want, got: isinstance(got, str) and _text(want) in got,
            "contain",
        ),
        (
            "outputsMatch",
            lambda want, got: isinstance(got, str) and re.search(_text(want), got) is not None,
            "match",
        ),
    )
    for key, accepts, verb in rules:
        for path, value in (expect.get(key) or {}).items():
            want = expected(value, f"{key}.{path}")
            if want is _UNRESOLVED:
                continue
            try:
                found, why_not = resolve_path(view, path)
            except ValueError as exc:
                problems.append(f"{key}: {exc}")
                continue
            if key == "outputsMatch":
                try:
                    re.compile(_text(want))
                except re.error as exc:
                    problems.append(f"{key}.{path}: bad regex {_text(want)!r}: {exc}")
                    continue
            if not found:
                problems.append(f"{key}.{path}: {why_not}")
            elif not any(accepts(want, got) for _, got in found):
                shown = "; ".join(f"{where} = {_show(got)}" for where, got in found[:5])
                more = f" (+{len(found) - 5} more)" if len(found) > 5 else ""
                problems.append(
                    f"{key}.{path}: expected to {verb} {_show(want)}, got {shown}{more}"
                )
    return problems


def _check_logs(
    entries: Sequence[Mapping[str, Any]], logs: Sequence[Any] | None, expected: Expected
) -> list[str]:
    if logs is None:
        return ["logs: no logs available for this execution"]
    problems = []
    for entry in entries:
        task, level = entry.get("task"), entry.get("level")
        lines = [
            line
            for line in logs
            if (task is None or _attr(line, "task_id", "taskId") == task)
            and (level is None or str(_attr(line, "level")).upper() == str(level).upper())
        ]
        label = f"logs[{task or '*'}{'@' + level if level else ''}]"
        if entry.get("absent"):
            if lines:
                problems.append(f"{label}: expected no log line, got {_show_lines(lines)}")
            continue
        if "equals" in entry:
            want = expected(entry["equals"], f"{label}.equals")
            if want is not _UNRESOLVED and not any(
                _attr(line, "message") == _text(want) for line in lines
            ):
                problems.append(f"{label}: no line equal to {_show(want)}; {_show_lines(lines)}")
        elif "contains" in entry:
            want = expected(entry["contains"], f"{label}.contains")
            if want is not _UNRESOLVED and not any(
                _text(want) in str(_attr(line, "message")) for line in lines
            ):
                problems.append(f"{label}: no line containing {_show(want)}; {_show_lines(lines)}")
        elif not lines:
            problems.append(f"{label}: no log line")
    return problems


def _show_lines(lines: Sequence[Any]) -> str:
    if not lines:
        return "no matching lines"
    shown = [f"{_attr(line, 'level')} {_show(_attr(line, 'message'))}" for line in lines[:5]]
    more = f" (+{len(lines) - 5} more)" if len(lines) > 5 else ""
    return "lines: " + "; ".join(shown) + more


def _same_flow(
    execution: Mapping[str, Any], executions: Sequence[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """This execution plus every other execution of its flow the case created."""
    own = _flow_key(execution)
    found = {e.get("id"): e for e in executions if _flow_key(e) == own}
    found[execution.get("id")] = execution
    return list(found.values())


def _check_related(
    entry: Mapping[str, Any],
    execution: Mapping[str, Any],
    executions: Sequence[Mapping[str, Any]],
    placeholders: Placeholders | None,
    expected: Expected,
) -> list[str]:
    flow = entry.get("flow")
    label = f"related[{flow}]"
    if not flow:
        return [f"{label}: entry has no `flow`"]
    matches = [c for c in related_of(execution, executions) if _flow_key(c) == flow]
    problems = []
    listed = [f"{_short(c)} {_state(c)}" for c in matches]
    if "count" in entry:
        if len(matches) != entry["count"]:
            problems.append(f"{label}: expected {entry['count']} execution(s), got {listed}")
    elif not matches:
        others = [_short(c) for c in related_of(execution, executions)]
        problems.append(f"{label}: no related execution (related: {others or 'none'})")

    sub_expect = {key: value for key, value in entry.items() if key not in RELATED_ONLY_KEYS}
    for child in matches:
        for problem in check_execution(
            sub_expect,
            child,
            logs=None,
            executions=executions,
            placeholders=placeholders,
        ):
            problems.append(f"{label} {_short(child)}: {problem}")

    if "statesAnyOrder" in entry:
        want_states = Counter(entry["statesAnyOrder"] or [])
        got_states = Counter(_state(child) for child in matches)
        if want_states != got_states:
            problems.append(
                f"{label}.statesAnyOrder: expected {sorted(want_states.elements())}, "
                f"got {sorted(map(str, got_states.elements()))}"
            )

    if "flowOutputsAnyOrder" in entry:
        maps = expected(list(entry["flowOutputsAnyOrder"] or []), f"{label}.flowOutputsAnyOrder")
        if maps is not _UNRESOLVED:
            actual = [child.get("outputs") or {} for child in matches]
            if not _match_any_order(maps, actual):
                problems.append(
                    f"{label}.flowOutputsAnyOrder: expected {_show(maps)} in any order, "
                    f"got {_show(actual)}"
                )
    return problems


def _match_any_order(expected_maps: Sequence[Any], actual_maps: Sequence[Any]) -> bool:
    """A one-to-one pairing where each expected map equals its actual map (Kuhn matching)."""
    if len(expected_maps) != len(actual_maps):
        return False
    owner: dict[int, int] = {}

    def assign(i: int, tried: set[int]) -> bool:
        for j, actual in enumerate(actual_maps):
            if j in tried or not same(expected_maps[i], actual):
                continue
            tried.add(j)
            if j not in owner or assign(owner[j], tried):
                owner[j] = i
                return True
        return False

    return all(assign(i, set()) for i in range(len(expected_maps)))


# -- waiting support -----------------------------------------------------------------------------


def others_pending(
    expect: Mapping[str, Any],
    execution: Mapping[str, Any],
    executions: Iterable[Mapping[str, Any]],
    terminal: frozenset[str] = TERMINAL_STATES,
) -> bool:
    """Whether executions `expect` talks about are missing or not terminal yet.

    A runner keeps polling while this holds (up to its deadline): flow triggers create their
    executions after this one ends, and retries with CREATE_NEW_EXECUTION arrive one by one.
    """
    executions = list(executions)
    for entry in expect.get("related") or []:
        matches = [
            c for c in related_of(execution, executions) if _flow_key(c) == entry.get("flow")
        ]
        needed = max(
            entry.get("count", 1),
            len(entry.get("flowOutputsAnyOrder") or []),
            len(entry.get("statesAnyOrder") or []),
        )
        if len(matches) < needed:
            return True
        for child in matches:
            if _state(child) not in terminal or others_pending(entry, child, executions, terminal):
                return True
    if "flowExecutionStates" in expect:
        same_flow = _same_flow(execution, executions)
        if len(same_flow) < len(expect["flowExecutionStates"] or []):
            return True
        if any(_state(e) not in terminal for e in same_flow):
            return True
    return False


def describe(execution: Mapping[str, Any] | None, limit: int = 60) -> str:
    """A compact picture of an execution for failure messages: state, history, task runs."""
    if execution is None:
        return "execution: missing"
    lines = [
        f"execution {_short(execution)}: {_state(execution)} (history {' > '.join(map(str, _history(execution)))})"
    ]
    runs = execution.get("taskRunList") or []
    by_id = {run.get("id"): run for run in runs}
    for run in runs[:limit]:
        depth, parent = 0, run.get("parentTaskRunId")
        while parent in by_id and depth < 20:
            depth, parent = depth + 1, by_id[parent].get("parentTaskRunId")
        value = f"[{run.get('value')}]" if run.get("value") is not None else ""
        attempts = len(run.get("attempts") or [])
        outputs = f" outputs={_show(run.get('outputs'))}" if run.get("outputs") else ""
        lines.append(
            f"  {'  ' * depth}{run.get('taskId')}{value} {_state(run)} attempts={attempts}{outputs}"
        )
    if len(runs) > limit:
        lines.append(f"  … {len(runs) - limit} more task runs")
    if execution.get("outputs"):
        lines.append(f"  flow outputs: {_show(execution['outputs'])}")
    return "\n".join(lines)
