"""state.Get / state.Set / state.Delete, as Kestra's StateTest and StateNamespaceTest
assert them (core/src/test/java/io/kestra/plugin/core/state/), plus the isolation a
shared daemon owes: a state name is one path segment, and a flow only reaches the states
of its own namespace."""

from __future__ import annotations

from pathlib import Path

import pytest
from tasks_support import messages, run_flow, run_of, running_engine, storage

pytestmark = pytest.mark.anyio

STATE = "io.kestra.plugin.core.state."


def flow(tasks: str, *, flow_id: str = "stateful", namespace: str = "company.team") -> str:
    return f"id: {flow_id}\nnamespace: {namespace}\ninputs:\n  - id: key\n    type: STRING\n    defaults: test\n  - id: inc\n    type: INT\n    defaults: 1\ntasks:\n{tasks}"


RUN = flow(
    f"""
  - id: get0
    type: {STATE}Get
  - id: set1
    type: {STATE}Set
    data:
      "{{{{ inputs.key }}}}": "{{{{ inputs.inc }}}}"
  - id: get1
    type: {STATE}Get
  - id: set2
    type: {STATE}Set
    data:
      "{{{{ inputs.key }}}}": "2"
      test2: "3"
  - id: get2
    type: {STATE}Get
  - id: delete
    type: {STATE}Delete
  - id: get3
    type: {STATE}Get
"""
)


async def test_set_merges_get_reads_delete_removes(tmp_path: Path) -> None:
    """StateTest#run."""
    async with running_engine(tmp_path) as engine:
        execution, _ = await run_flow(engine, RUN)
    assert execution.state.current == "SUCCESS"
    out = {r.task_id: r.outputs for r in execution.task_run_list}
    assert out["get0"] == {"count": 0, "data": {}}
    assert out["set1"]["count"] == 1
    assert out["get1"] == {"count": 1, "data": {"test": "1"}}
    assert out["set2"]["count"] == 2
    assert out["get2"] == {"count": 2, "data": {"test": "2", "test2": "3"}}
    assert out["delete"] == {"deleted": True}
    assert out["get3"] == {"count": 0, "data": {}}
    uri = out["set2"]["uri"]
    assert uri == "kestra:///company/team/stateful/states/tasks-states/default"
    assert not storage().exists(uri)


@pytest.mark.parametrize("task", ["Get", "Delete"])
async def test_error_on_missing(tmp_path: Path, task: str) -> None:
    """StateTest#getThrow and #deleteThrow."""
    source = flow(
        f"  - id: t\n    type: {STATE}{task}\n    name: nothing\n    errorOnMissing: true\n"
    )
    async with running_engine(tmp_path) as engine:
        execution, logs = await run_flow(engine, source)
    assert run_of(execution, "t").state.current == "FAILED"
    assert messages(logs, "t", "ERROR") == ["the state `nothing` does not exist"]


async def test_a_namespace_state_is_shared_by_the_flows_of_the_namespace(tmp_path: Path) -> None:
    """StateNamespaceTest#run: a `namespace: true` state is seen by another flow of the
    namespace, and not as that flow's own state."""
    writer = flow(
        f"  - id: set\n    type: {STATE}Set\n    namespace: true\n    data:\n      john: doe\n"
    )
    reader = flow(
        f"  - id: shared\n    type: {STATE}Get\n    namespace: true\n"
        f"  - id: own\n    type: {STATE}Get\n",
        flow_id="other",
    )
    elsewhere = flow(
        f"  - id: shared\n    type: {STATE}Get\n    namespace: true\n",
        flow_id="other",
        namespace="company.rival",
    )
    async with running_engine(tmp_path) as engine:
        await run_flow(engine, writer)
        read, _ = await run_flow(engine, reader)
        rival, _ = await run_flow(engine, elsewhere)
    assert run_of(read, "shared").outputs == {"count": 1, "data": {"john": "doe"}}
    assert run_of(read, "own").outputs == {"count": 0, "data": {}}
    assert run_of(rival, "shared").outputs == {"count": 0, "data": {}}


@pytest.mark.parametrize("name", ["../../../rival/x", "a/b", "..", "{{ '..' }}"])
async def test_a_state_name_cannot_leave_its_folder(tmp_path: Path, name: str) -> None:
    source = flow(f'  - id: t\n    type: {STATE}Set\n    name: "{name}"\n    data:\n      a: b\n')
    async with running_engine(tmp_path) as engine:
        execution, logs = await run_flow(engine, source)
    assert run_of(execution, "t").state.current == "FAILED"
    [error] = messages(logs, "t", "ERROR")
    assert error.startswith("`name`: path segment")
    assert not (tmp_path / "storage" / "rival").exists()
