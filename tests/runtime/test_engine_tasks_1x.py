"""Kestra 1.x core tasks through the real engine on both stores: SetVariables,
UnsetVariables, Assert. Each case names the Kestra test it mirrors (kestra-io/kestra,
core/src/test/java/io/kestra/plugin/core/execution/…)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from kestrad.runtime.engine import Engine

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def _keep_default_storage() -> Any:
    """An engine opened with a storage path makes it the process default: put it back."""
    from kestrad import storage as storage_module

    previous = storage_module._default
    yield
    storage_module._default = previous


async def _run(engine: Engine, source: str, **inputs: str) -> Any:
    flow = await engine.deploy_source(source)
    execution = await engine.create_execution(flow.namespace, flow.id, inputs)
    return await engine.wait_for(execution.id, timeout=30)


def _run_of(execution: Any, task_id: str) -> Any:
    return next(run for run in execution.task_run_list if run.task_id == task_id)


VARIABLES = """
id: variables
namespace: tests.v1x
variables:
  name: World
  nested: {a: 1, b: 2}
tasks:
  - id: set
    type: io.kestra.plugin.core.execution.SetVariables
    variables:
      message: Hello
      name: "{{ 'Loïc' }}"
      nested: {c: 3}
  - id: after_set
    type: io.kestra.plugin.core.output.OutputValues
    values:
      text: "{{ vars.message }} {{ vars.name }} {{ vars.nested.a }}{{ vars.nested.c }}"
  - id: unset
    type: io.kestra.plugin.core.execution.UnsetVariables
    variables: [message, nested.a]
  - id: after_unset
    type: io.kestra.plugin.core.output.OutputValues
    values:
      text: "{{ vars.message ??? 'gone' }} {{ vars.nested.a ??? 'gone' }} {{ vars.nested.b }}"
"""


async def test_set_and_unset_variables_are_seen_by_later_tasks(database_url: str) -> None:
    # Kestra: SetVariablesTest#shouldUpdateExecution, UnsetVariablesTest#shouldUpdateExecution
    async with Engine.open(database_url) as engine:
        final = await _run(engine, VARIABLES)
    assert final.state.current == "SUCCESS"
    assert _run_of(final, "after_set").outputs["values"]["text"] == "Hello Loïc 13"
    assert _run_of(final, "after_unset").outputs["values"]["text"] == "gone gone 2"
    assert final.variables == {"name": "Loïc", "nested": {"b": 2, "c": 3}}
    assert not any(run.attempts == [] for run in final.task_run_list)


async def test_set_variables_without_overwrite_fails_on_an_existing_key() -> None:
    # Kestra: SetVariablesTest#shouldFailWhenExistingVariable (a flow variable counts)
    source = """
id: no_overwrite
namespace: tests.v1x
variables:
  name: World
tasks:
  - id: set
    type: io.kestra.plugin.core.execution.SetVariables
    overwrite: false
    variables:
      name: Loïc
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: never
"""
    async with Engine.open() as engine:
        final = await _run(engine, source)
    assert final.state.current == "FAILED"
    assert [run.task_id for run in final.task_run_list] == ["set"]


async def test_unset_variables_of_a_missing_map_fails_unless_ignored() -> None:
    # Kestra: UnsetVariables#removeVar (a missing parent map throws; ignoreMissing skips)
    source = """
id: unset_missing
namespace: tests.v1x
tasks:
  - id: tolerant
    type: io.kestra.plugin.core.execution.UnsetVariables
    ignoreMissing: true
    variables: [nothing.here]
  - id: strict
    type: io.kestra.plugin.core.execution.UnsetVariables
    variables: ["nothing.here"]
"""
    async with Engine.open() as engine:
        final = await _run(engine, source)
    assert _run_of(final, "tolerant").state.current == "SUCCESS"
    assert _run_of(final, "strict").state.current == "FAILED"


async def test_assert_fails_with_the_number_of_false_conditions(database_url: str) -> None:
    # Kestra: AssertTest#dontFailOnCondition / #failOnCondition
    source = """
id: asserting
namespace: tests.v1x
inputs:
  - id: param
    type: STRING
tasks:
  - id: ok
    type: io.kestra.plugin.core.execution.Assert
    conditions: ["{{ inputs.param == 'ok' }}", "{{ 1 + 1 == 2 }}"]
  - id: ko
    type: io.kestra.plugin.core.execution.Assert
    errorMessage: "see {{ inputs.param }}"
    conditions: ["{{ 1 + 1 == 3 }}", "{{ undefined_thing.x }}", "{{ true }}"]
"""
    async with Engine.open(database_url) as engine:
        final = await _run(engine, source, param="ok")
        logs = [entry.message for entry in await engine.store.list_logs(final.id)]
    assert final.state.current == "FAILED"
    assert _run_of(final, "ok").state.current == "SUCCESS"
    assert _run_of(final, "ko").state.current == "FAILED"
    assert any("2 assertions failed!\nsee ok" in line for line in logs)
    assert any("Assertion `{{ 1 + 1 == 3 }}` failed!" in line for line in logs)


async def test_error_logs_and_tasks_with_state_in_an_errors_branch(database_url: str) -> None:
    # Kestra: JdbcRunnerTest#errors (errorLogs()), RunContextTest#failedTasksVariable
    source = """
id: failing
namespace: tests.v1x
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2]
    tasks:
      - id: boom
        type: io.kestra.plugin.core.execution.Fail
        condition: "{{ taskrun.value == '2' }}"
        errorMessage: "broke on {{ taskrun.value }}"
errors:
  - id: report
    type: io.kestra.plugin.core.output.OutputValues
    values:
      logs: "{% for log in errorLogs() %}{{ log.taskId }}: {{ log.message }};{% endfor %}"
      failed: "{{ tasksWithState('failed') | json }}"
"""
    async with Engine.open(database_url) as engine:
        final = await _run(engine, source)
    values = _run_of(final, "report").outputs["values"]
    assert final.state.current == "FAILED"
    assert values["logs"] == "boom: broke on 2;"
    assert '{"state":"FAILED","value":"2","taskId":"boom"}' in values["failed"]
    assert '{"state":"FAILED","taskId":"each"}' in values["failed"]


async def test_error_logs_outside_a_worker_is_refused() -> None:
    # Kestra's ErrorLogsFunction: "can only be used in the Worker"
    source = """
id: executor_side
namespace: tests.v1x
tasks:
  - id: branch
    type: io.kestra.plugin.core.flow.If
    condition: "{{ errorLogs() | length == 0 }}"
    then:
      - id: never
        type: io.kestra.plugin.core.log.Log
        message: never
"""
    async with Engine.open() as engine:
        final = await _run(engine, source)
    assert final.state.current == "FAILED"
    assert [run.task_id for run in final.task_run_list] == ["branch"]


async def test_working_directory_children_honour_run_if(database_url: str) -> None:
    # Kestra: TaskWithRunIfTest#runIfWorkingDirectory, WorkingDirectoryTest#invalidRunIf
    source = """
id: wd_runif
namespace: tests.v1x
tasks:
  - id: wd
    type: io.kestra.plugin.core.flow.WorkingDirectory
    tasks:
      - id: yes
        type: io.kestra.plugin.core.debug.Return
        runIf: "{{ 1 == 1 }}"
        format: ran
      - id: no
        type: io.kestra.plugin.core.debug.Return
        runIf: "{{ 1 == 2 }}"
        format: never
      - id: not_when
        type: io.kestra.plugin.core.debug.Return
        when: "{{ 1 == 2 }}"
        format: never
"""
    async with Engine.open(database_url) as engine:
        final = await _run(engine, source)
        broken = await _run(
            engine, source.replace("wd_runif", "wd_bad").replace("1 == 2", "outputs.nope")
        )
    assert final.state.current == "SUCCESS"
    assert _run_of(final, "yes").state.current == "SUCCESS"
    assert _run_of(final, "no").state.current == "SKIPPED"
    assert _run_of(final, "not_when").state.current == "SKIPPED"
    assert broken.state.current == "FAILED"
    assert [run.task_id for run in broken.task_run_list] == ["wd", "yes"]


CHILD = """
id: fei_child
namespace: tests.v1x
inputs:
  - id: items
    type: STRING
tasks:
  - id: count
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read(inputs.items) | trim }}"
  - id: maybe_fail
    type: io.kestra.plugin.core.execution.Fail
    condition: "{{ read(inputs.items) contains 'boom' }}"
outputs:
  - id: lines
    type: STRING
    value: "{{ outputs.count.value }}"
"""

PARENT = """
id: fei_parent
namespace: tests.v1x
inputs:
  - id: file
    type: FILE
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEachItem
    items: "{{ inputs.file }}"
    batch:
      rows: 2
    namespace: tests.v1x
    flowId: fei_child
    inputs:
      items: "{{ taskrun.items }}"
"""


async def _for_each_item(engine: Engine, content: bytes) -> Any:
    from kestrad.storage import default_storage

    for source in (CHILD, PARENT):
        await engine.deploy_source(source)
    uri = "kestra:///tests/v1x/fei_parent/inputs/lines.txt"
    default_storage().put(uri, content)
    execution = await engine.create_execution("tests.v1x", "fei_parent", {"file": uri})
    return await engine.wait_for(execution.id, timeout=60)


async def test_for_each_item_runs_a_subflow_per_batch_and_merges_outputs(
    database_url: str, tmp_path: Any
) -> None:
    # Kestra: ForEachItemCaseTest#forEachItem and #forEachItemWithSubflowOutputs
    from kestrad.config import Config
    from kestrad.storage import default_storage

    config = Config()
    config.storage.path = str(tmp_path / "storage")
    async with Engine.open(database_url, config=config) as engine:
        final = await _for_each_item(engine, b"a\nb\nc\nd\ne\n")
        merged = default_storage().get(_run_of(final, "each_merge").outputs["subflowOutputs"])
    assert final.state.current == "SUCCESS"
    assert [r.task_id for r in final.task_run_list] == [
        "each",
        "each_split",
        "each_items",
        "each_merge",
    ]
    items = _run_of(final, "each_items").outputs
    assert items["numberOfBatches"] == 3
    assert items["iterations"] == {"CREATED": 0, "RUNNING": 0, "SUCCESS": 3}
    assert merged.decode().splitlines() == [
        '{"lines":"a\\nb"}',
        '{"lines":"c\\nd"}',
        '{"lines":"e"}',
    ]


async def test_for_each_item_fails_once_every_batch_ended_and_skips_an_empty_file(
    tmp_path: Any,
) -> None:
    # Kestra: ForEachItemCaseTest#forEachItemFailed and #forEachItemEmptyItems
    from kestrad.config import Config

    config = Config()
    config.storage.path = str(tmp_path / "storage")
    async with Engine.open(config=config) as engine:
        failed = await _for_each_item(engine, b"boom\nx\ny\nz\n")
        empty = await _for_each_item(engine, b"")
    items = _run_of(failed, "each_items")
    assert failed.state.current == "FAILED" and items.state.current == "FAILED"
    assert items.outputs["iterations"] == {"CREATED": 0, "RUNNING": 0, "FAILED": 1, "SUCCESS": 1}
    assert "each_merge" not in [r.task_id for r in failed.task_run_list]
    assert empty.state.current == "SUCCESS"
    assert _run_of(empty, "each_items").outputs == {}


async def test_for_each_item_refuses_a_file_of_another_namespace(tmp_path: Any) -> None:
    # A hostile `items`: a file that is neither this namespace's nor an input of the run.
    from kestrad.config import Config
    from kestrad.storage import default_storage

    config = Config()
    config.storage.path = str(tmp_path / "storage")
    source = PARENT.replace('"{{ inputs.file }}"', '"kestra:///other/ns/secret.txt"')
    async with Engine.open(config=config) as engine:
        default_storage().put("kestra:///other/ns/secret.txt", b"secret\n")
        await engine.deploy_source(CHILD)
        flow = await engine.deploy_source(
            source.replace("  - id: file\n    type: FILE\n", "  - id: file\n    type: STRING\n")
        )
        execution = await engine.create_execution(flow.namespace, flow.id, {"file": "x"})
        final = await engine.wait_for(execution.id, timeout=30)
    assert final.state.current == "FAILED"
    assert _run_of(final, "each_split").state.current == "FAILED"


async def test_a_subflow_refused_by_its_concurrency_limit_ends_its_parent(
    database_url: str,
) -> None:
    # Kestra: FlowConcurrencyCaseTest#flowConcurrencySubflow
    limited = """
id: limited
namespace: tests.v1x
concurrency:
  behavior: CANCEL
  limit: 1
tasks:
  - id: sleep
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT1S
"""
    parent = """
id: calls_limited
namespace: tests.v1x
tasks:
  - id: subflow
    type: io.kestra.plugin.core.flow.Subflow
    namespace: tests.v1x
    flowId: limited
"""
    async with Engine.open(database_url) as engine:
        await engine.deploy_source(limited)
        await engine.deploy_source(parent)
        first = await engine.create_execution("tests.v1x", "calls_limited")
        for _ in range(200):  # the first child runs: the second one is refused
            current = await engine.store.get_execution(first.id)
            child_id = (
                (current.task_run_list[0].outputs or {}).get("executionId")
                if current and current.task_run_list
                else None
            )
            child = await engine.store.get_execution(child_id) if child_id else None
            if child is not None and child.state.current == "RUNNING":
                break
            await anyio.sleep(0.05)
        second = await engine.create_execution("tests.v1x", "calls_limited")
        refused = await engine.wait_for(second.id, timeout=30)
        admitted = await engine.wait_for(first.id, timeout=30)
    assert admitted.state.current == "SUCCESS"
    assert refused.state.current in ("SUCCESS", "CANCELLED"), "ended, not left RUNNING"
    assert _run_of(refused, "subflow").state.current == "CANCELLED"


async def test_flow_triggers_fire_on_the_states_they_list_not_only_the_end(
    database_url: str,
) -> None:
    # Kestra: FlowTriggerCaseTest#triggerWithPause, MultipleConditionTriggerCaseTest#flowTriggerOnPaused
    upstream = """
id: pausing
namespace: tests.v1x.states
tasks:
  - id: pause
    type: io.kestra.plugin.core.flow.Pause
    pauseDuration: PT0.2S
  - id: done
    type: io.kestra.plugin.core.log.Log
    message: done
"""
    listener = """
id: listener
namespace: tests.v1x.states
inputs:
  - id: seen
    type: STRING
    defaults: none
tasks:
  - id: note
    type: io.kestra.plugin.core.log.Log
    message: "{{ trigger.state }}"
triggers:
  - id: states
    type: io.kestra.plugin.core.trigger.Flow
    states: [RUNNING, PAUSED, SUCCESS]
    conditions:
      - type: io.kestra.plugin.core.condition.ExecutionFlow
        namespace: tests.v1x.states
        flowId: pausing
"""
    async with Engine.open(database_url) as engine:
        await engine.deploy_source(listener)
        await engine.deploy_source(upstream)
        execution = await engine.create_execution("tests.v1x.states", "pausing")
        assert (await engine.wait_for(execution.id, timeout=30)).state.current == "SUCCESS"
        fired: list[Any] = []
        for _ in range(200):
            fired = await engine.store.executions_triggered_by(execution.id)
            if len(fired) >= 4:
                break
            await anyio.sleep(0.05)
    states = sorted(e.trigger.variables["state"] for e in fired)
    assert states == ["PAUSED", "RUNNING", "RUNNING", "SUCCESS"]


def test_no_task_property_shadows_a_method_the_engine_calls() -> None:
    # Assert's `conditions` once hid a helper of that name and failed the executor.
    import msgspec

    from kestrad.tasks import registry
    from kestrad.tasks.base import Flowable

    methods = {name for name in dir(Flowable) if callable(getattr(Flowable, name, None))}
    for type_name, cls in registry.all_types().items():
        fields = {field.name for field in msgspec.structs.fields(cls)}
        assert not fields & methods, f"{type_name}: {sorted(fields & methods)}"
