"""Validation rules of the loader, one at a time (Kestra's FlowValidator and task rules)."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kestrad.flows.loader import FlowLoadError, load_flow
from kestrad.model.flow import Flow
from kestrad.tasks import registry
from kestrad.triggers.flow import FlowTrigger
from kestrad.triggers.polling import HttpTrigger
from kestrad.triggers.schedule import Schedule
from kestrad.triggers.webhook import Webhook

LOG = "io.kestra.plugin.core.log.Log"


def flow_yaml(body: str, *, flow_id: str = "demo", namespace: str = "company.team") -> str:
    return f"id: {flow_id}\nnamespace: {namespace}\n" + textwrap.dedent(body)


def load(body: str, **kwargs: object) -> Flow:
    return load_flow(flow_yaml(body), **kwargs)  # type: ignore[arg-type]


def messages(body: str, **kwargs: object) -> list[str]:
    with pytest.raises(FlowLoadError) as info:
        load_flow(flow_yaml(body), **kwargs)  # type: ignore[arg-type]
    return [f"{p.path}: {p.message}" for p in info.value.problems]


ONE_TASK = f"""
tasks:
  - id: hello
    type: {LOG}
    message: hi
"""


# -- identity -------------------------------------------------------------------------------


@pytest.mark.parametrize("flow_id", ["a", "A1", "my-flow_2.x", "9" * 100])
def test_valid_flow_ids(flow_id: str) -> None:
    assert load_flow(flow_yaml(ONE_TASK, flow_id=flow_id)).id == flow_id


@pytest.mark.parametrize("flow_id", ["'-a'", "'my#flow'", "'.a'", "'a b'", "'" + "x" * 101 + "'"])
def test_invalid_flow_ids(flow_id: str) -> None:
    with pytest.raises(FlowLoadError) as info:
        load_flow(flow_yaml(ONE_TASK, flow_id=flow_id))
    [p] = info.value.problems
    assert p.path == "id" and "invalid flow id" in p.message


@pytest.mark.parametrize("namespace", ["'Company'", "'-a'", "'a/b'", "'" + "a" * 151 + "'"])
def test_invalid_namespaces(namespace: str) -> None:
    with pytest.raises(FlowLoadError) as info:
        load_flow(flow_yaml(ONE_TASK, namespace=namespace))
    [p] = info.value.problems
    assert p.path == "namespace" and "invalid namespace" in p.message


@given(st.from_regex(r"[a-z0-9][a-z0-9._-]{0,30}", fullmatch=True))
def test_any_lower_case_namespace_loads(namespace: str) -> None:
    assert load_flow(flow_yaml(ONE_TASK, namespace=f"'{namespace}'")).namespace == namespace


def test_tasks_are_required_and_not_empty() -> None:
    assert messages("tasks: []\n") == ["tasks: `tasks` must not be empty"]
    assert messages("description: none\n") == [
        ": missing required property `tasks` (a flow needs at least one task)"
    ]


def test_unknown_top_level_property() -> None:
    assert messages(ONE_TASK + "tenantId: main\n") == [
        "tenantId: unknown property `tenantId` on flow"
    ]


def test_uid_and_source() -> None:
    flow = load(ONE_TASK + "revision: 3\n")
    assert flow.uid == "company.team_demo_3"
    assert flow.uid_without_revision == "company.team_demo"
    assert flow.source == flow_yaml(ONE_TASK + "revision: 3\n")


# -- tasks ----------------------------------------------------------------------------------


def test_task_id_pattern() -> None:
    found = messages(f"tasks:\n  - id: my.task\n    type: {LOG}\n    message: hi\n")
    assert found == [
        "tasks[0].id: invalid task id `my.task`: it must match `^[a-zA-Z0-9][a-zA-Z0-9_-]*$`"
    ]


def test_task_ids_unique_across_every_section() -> None:
    body = f"""
    tasks:
      - id: a
        type: {LOG}
        message: x
    errors:
      - id: a
        type: {LOG}
        message: x
    finally:
      - id: a
        type: {LOG}
        message: x
    afterExecution:
      - id: a
        type: {LOG}
        message: x
    listeners:
      - tasks:
          - id: a
            type: {LOG}
            message: x
    """
    found = messages(body)
    assert found == [
        "errors[0].id: duplicate task id `a` (first used at tasks[0])",
        "finally[0].id: duplicate task id `a` (first used at tasks[0])",
        "afterExecution[0].id: duplicate task id `a` (first used at tasks[0])",
        "listeners[0].tasks[0].id: duplicate task id `a` (first used at tasks[0])",
    ]


def test_unknown_task_type_lists_close_names() -> None:
    [found] = messages(
        "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Lgo\n    message: x\n"
    )
    assert found.startswith("tasks[0].type: unknown task type `io.kestra.plugin.core.log.Lgo`")
    assert "closest known types: io.kestra.plugin.core.log.Log" in found


def test_task_without_type_or_id() -> None:
    assert messages("tasks:\n  - message: x\n") == [
        "tasks[0]: missing required property `id`",
        "tasks[0]: missing required property `type`",
    ]


def test_task_must_be_a_mapping() -> None:
    assert messages("tasks:\n  - just-a-string\n") == [
        "tasks[0]: a task must be a mapping with `id` and `type`"
    ]


@pytest.mark.parametrize(
    ("legacy", "current"),
    [
        ("io.kestra.core.tasks.log.Log", "io.kestra.plugin.core.log.Log"),
        ("io.kestra.core.tasks.debugs.Return", "io.kestra.plugin.core.debug.Return"),
        ("io.kestra.core.tasks.executions.Fail", "io.kestra.plugin.core.execution.Fail"),
    ],
)
def test_legacy_task_types_resolve(legacy: str, current: str) -> None:
    field = "format" if "Return" in current else "message" if "Log" in current else "errorMessage"
    flow = load(f"tasks:\n  - id: a\n    type: {legacy}\n    {field}: x\n")
    assert flow.tasks[0].type == current
    assert type(flow.tasks[0]) is registry.resolve(current)


def test_legacy_flowable_alias_resolves() -> None:
    flow = load(
        f"""
        tasks:
          - id: seq
            type: io.kestra.core.tasks.flows.Sequential
            tasks:
              - id: a
                type: {LOG}
                message: x
        """
    )
    assert flow.tasks[0].type == "io.kestra.plugin.core.flow.Sequential"


def test_worker_group_is_enterprise_only() -> None:
    found = messages(
        f"tasks:\n  - id: a\n    type: {LOG}\n    message: x\n    workerGroup:\n      key: gpu\n"
    )
    assert found == ["tasks[0].workerGroup: workerGroup is an Enterprise Edition feature"]


def test_docker_task_runner_is_refused() -> None:
    found = messages(
        f"""
        tasks:
          - id: a
            type: {LOG}
            message: x
            taskRunner:
              type: io.kestra.plugin.scripts.runner.docker.Docker
        """
    )
    assert "tasks[0].taskRunner.type: the Docker task runner is not supported" in found[-1]


def test_required_child_list_must_not_be_empty() -> None:
    found = messages(
        """
        tasks:
          - id: check
            type: io.kestra.plugin.core.flow.If
            condition: "{{ true }}"
            then: []
        """
    )
    assert found == ["tasks[0].then: `then` must not be empty"]


def test_child_list_must_be_a_list() -> None:
    found = messages(
        """
        tasks:
          - id: seq
            type: io.kestra.plugin.core.flow.Sequential
            tasks: {id: a}
        """
    )
    assert found == ["tasks[0].tasks: expected a list of tasks"]


def test_parallel_needs_tasks() -> None:
    found = messages(
        """
        tasks:
          - id: p1
            type: io.kestra.plugin.core.flow.Parallel
          - id: p2
            type: io.kestra.plugin.core.flow.Parallel
            tasks: []
          - id: p3
            type: io.kestra.plugin.core.flow.Parallel
            tasks: null
        """
    )
    assert found == [
        "tasks[0]: missing required property `tasks`",
        "tasks[1].tasks: `tasks` must not be empty",
        "tasks[2].tasks: `tasks` must not be empty",
    ]


def test_switch_needs_cases_or_defaults() -> None:
    found = messages(
        """
        tasks:
          - id: sw
            type: io.kestra.plugin.core.flow.Switch
            value: "{{ 1 }}"
            cases:
              a: []
        """
    )
    assert found == ["tasks[0]: no task defined: neither `cases` nor `defaults` have any tasks"]


def test_switch_cases_are_built() -> None:
    flow = load(
        f"""
        tasks:
          - id: sw
            type: io.kestra.plugin.core.flow.Switch
            value: "{{{{ 1 }}}}"
            cases:
              "1":
                - id: one
                  type: {LOG}
                  message: x
            defaults:
              - id: other
                type: {LOG}
                message: y
        """
    )
    assert flow.find_parent("one") is flow.tasks[0]
    assert [p.id for p in flow.find_parent_path("other") or []] == ["sw"]


DAG = """
tasks:
  - id: dag
    type: io.kestra.plugin.core.flow.Dag
    tasks:
      - task: {{id: a, type: io.kestra.plugin.core.log.Log, message: a}}
        dependsOn: [{a_deps}]
      - task: {{id: b, type: io.kestra.plugin.core.log.Log, message: b}}
        dependsOn: [{b_deps}]
"""


def test_dag_loads_with_nodes() -> None:
    flow = load(DAG.format(a_deps="", b_deps="a"))
    dag = flow.tasks[0]
    assert [node.task.id for node in dag.tasks] == ["a", "b"]
    assert dag.tasks[1].depends_on == ["a"]
    assert flow.find_parent("b") is dag
    assert [t.id for t in flow.all_tasks()] == ["dag", "a", "b"]


def test_dag_cycle_is_refused() -> None:
    assert messages(DAG.format(a_deps="b", b_deps="a")) == [
        "tasks[0].tasks: cyclic dependency detected: a, b"
    ]


def test_dag_unknown_dependency_is_refused() -> None:
    assert messages(DAG.format(a_deps="", b_deps="zz")) == [
        "tasks[0].tasks[1].dependsOn[0]: unknown task id in dependency: `zz`"
    ]


def test_subflow_may_not_call_its_own_flow() -> None:
    found = messages(
        """
        tasks:
          - id: again
            type: io.kestra.plugin.core.flow.Subflow
            namespace: company.team
            flowId: demo
        """
    )
    assert found == ["tasks[0]: recursive call to flow [company.team.demo]"]


def test_subflow_of_another_flow_is_fine() -> None:
    flow = load(
        """
        tasks:
          - id: child
            type: io.kestra.plugin.core.flow.Subflow
            namespace: company.team
            flowId: other
        """
    )
    assert flow.tasks[0].type == "io.kestra.plugin.core.flow.Subflow"


@pytest.mark.skipif(
    registry.resolve("io.kestra.plugin.core.flow.WorkingDirectory") is None,
    reason="WorkingDirectory is not implemented yet",
)
def test_working_directory_rules() -> None:
    found = messages(
        """
        tasks:
          - id: wd
            type: io.kestra.plugin.core.flow.WorkingDirectory
            tasks:
              - id: seq
                type: io.kestra.plugin.core.flow.Sequential
                tasks:
                  - {id: a, type: io.kestra.plugin.core.log.Log, message: a}
          - id: empty
            type: io.kestra.plugin.core.flow.WorkingDirectory
            tasks: []
        """
    )
    assert any(m.startswith("tasks[0].tasks[0]: only runnable tasks") for m in found)
    assert "tasks[1].tasks: `tasks` must not be empty" in found


def test_every_problem_of_a_subtree_is_reported() -> None:
    found = messages(
        f"""
        tasks:
          - id: seq
            type: io.kestra.plugin.core.flow.Sequential
            tasks:
              - id: a
                type: {LOG}
              - id: b
                type: {LOG}
                message: x
                level: LOUD
                nope: 1
        """
    )
    assert found == [
        "tasks[0].tasks[0]: missing required property `message`",
        "tasks[0].tasks[1].level: invalid value: Invalid enum value 'LOUD'",
        "tasks[0].tasks[1].nope: unknown property `nope` on io.kestra.plugin.core.log.Log",
    ]


def test_non_strict_ignores_unknown_properties() -> None:
    body = ONE_TASK + "tenantId: main\n" + "extra: 1\n"
    flow = load(body.replace("message: hi", "message: hi\n    colour: blue"), strict=False)
    assert flow.tasks[0].message == "hi"


def test_null_optional_property_counts_as_absent() -> None:
    flow = load(f"tasks:\n  - id: a\n    type: {LOG}\n    message: x\n    level: null\n")
    assert flow.tasks[0].level == "INFO"


# -- triggers -------------------------------------------------------------------------------


def test_core_triggers_are_typed() -> None:
    flow = load(
        ONE_TASK
        + """
triggers:
  - id: every-hour
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 * * * *"
    timezone: Europe/Paris
    recoverMissedSchedules: LAST
  - id: hook
    type: io.kestra.core.models.triggers.types.Webhook
    key: secret-key
  - id: after
    type: io.kestra.core.models.triggers.types.Flow
    states: [SUCCESS]
    preconditions:
      id: upstream
      flows:
        - namespace: company.team
          flowId: other
  - id: poll
    type: io.kestra.plugin.fs.http.Trigger
    uri: https://example.com/health
  - id: dates
    type: io.kestra.plugin.core.trigger.ScheduleOnDates
    dates: ["2025-01-01T00:00:00Z"]
"""
    )
    schedule, hook, after, poll, dates = flow.triggers or []
    assert isinstance(schedule, Schedule) and schedule.recover_missed_schedules == "LAST"
    assert isinstance(hook, Webhook) and hook.type == "io.kestra.plugin.core.trigger.Webhook"
    assert isinstance(after, FlowTrigger) and after.preconditions is not None
    assert after.preconditions.flows and after.preconditions.flows[0].flow_id == "other"
    assert isinstance(poll, HttpTrigger) and poll.interval == "PT60S"
    assert dates.dates == ["2025-01-01T00:00:00Z"]
    assert flow.find_trigger("hook") is hook
    assert flow.find_trigger("nope") is None


def test_trigger_rules() -> None:
    found = messages(
        ONE_TASK
        + """
triggers:
  - id: a
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "* * *"
    timezone: Mars/Olympus
  - id: a
    type: io.kestra.plugin.core.trigger.Nope
  - id: b.c
    type: io.kestra.plugin.core.trigger.Webhook
    key: k
    workerGroup: {key: x}
    conditions:
      - type: io.kestra.plugin.core.condition.MultipleCondition
        conditions:
          ok: {type: io.kestra.plugin.core.condition.ExecutionStatus, in: [SUCCESS]}
"""
    )
    assert found == [
        "triggers[0].cron: invalid cron expression `* * *`: expected 5 fields, got 3",
        "triggers[0].timezone: unknown timezone `Mars/Olympus`",
        "triggers[1].id: duplicate trigger id `a` (first used at triggers[0])",
        "triggers[1].type: unknown trigger type `io.kestra.plugin.core.trigger.Nope`"
        "; closest known types: io.kestra.plugin.core.trigger.Flow, "
        "io.kestra.plugin.core.trigger.Webhook, io.kestra.plugin.core.trigger.Schedule",
        "triggers[2].id: invalid trigger id `b.c`: it must match `^[a-zA-Z0-9][a-zA-Z0-9_-]*$`",
        "triggers[2].workerGroup: workerGroup is an Enterprise Edition feature",
        "triggers[2].conditions[0]: a Webhook trigger cannot use a MultipleCondition",
    ]


@pytest.mark.parametrize(
    ("cron", "seconds", "ok"),
    [
        ("0 * * * *", False, True),
        ("@daily", False, True),
        ("*/5 1-3 ? JAN MON#2", False, True),
        ("0 0 * * * *", True, True),
        ("0 0 * * * *", False, False),
        ("0 * * * *", True, False),
        ("0 * * * $", False, False),
    ],
)
def test_schedule_cron_shape(cron: str, seconds: bool, ok: bool) -> None:
    body = (
        ONE_TASK
        + f'triggers:\n  - id: s\n    type: io.kestra.plugin.core.trigger.Schedule\n    cron: "{cron}"\n    withSeconds: {str(seconds).lower()}\n'
    )
    if ok:
        assert load(body).triggers
    else:
        assert messages(body)[0].startswith("triggers[0].cron: invalid cron expression")


def test_conditions_are_canonicalized() -> None:
    flow = load(
        ONE_TASK
        + """
triggers:
  - id: listen
    type: io.kestra.plugin.core.trigger.Flow
    conditions:
      - type: io.kestra.core.models.conditions.types.ExecutionStatusCondition
        in: [SUCCESS]
      - type: io.kestra.plugin.core.condition.ExpressionCondition
        expression: "{{ true }}"
      - type: io.kestra.plugin.core.condition.Not
        conditions:
          - type: io.kestra.core.models.conditions.types.WeekendCondition
"""
    )
    conditions = flow.triggers[0].conditions  # type: ignore[index]
    assert [c["type"] for c in conditions] == [
        "io.kestra.plugin.core.condition.ExecutionStatus",
        "io.kestra.plugin.core.condition.Expression",
        "io.kestra.plugin.core.condition.Not",
    ]
    assert conditions[2]["conditions"][0]["type"] == "io.kestra.plugin.core.condition.Weekend"


def test_unknown_condition_type() -> None:
    found = messages(
        ONE_TASK
        + """
listeners:
  - conditions:
      - type: io.kestra.plugin.core.condition.Nope
    tasks:
      - {id: l, type: io.kestra.plugin.core.log.Log, message: x}
"""
    )
    assert found[0].startswith("listeners[0].conditions[0].type: unknown condition type")


# -- labels ---------------------------------------------------------------------------------


def test_labels_as_map_or_list_are_normalized() -> None:
    as_map = load(ONE_TASK + "labels:\n  team: data\n  tier: 1\n  live: true\n")
    as_list = load(
        ONE_TASK
        + "labels:\n  - key: team\n    value: data\n  - key: tier\n    value: 1\n  - key: live\n    value: true\n"
    )
    assert as_map.labels == as_list.labels == {"team": "data", "tier": "1", "live": "true"}


def test_system_labels_are_refused_except_read_only() -> None:
    assert load(ONE_TASK + "labels:\n  system.readOnly: 'true'\n").labels == {
        "system.readOnly": "true"
    }
    assert messages(ONE_TASK + "labels:\n  system.correlationId: x\n") == [
        "labels.system.correlationId: system labels can only be set by Kestra itself, "
        "offending label: system.correlationId=x"
    ]


def test_bad_labels() -> None:
    assert messages(ONE_TASK + "labels: nope\n") == [
        "labels: labels must be a mapping or a list of `{key, value}`"
    ]
    assert messages(ONE_TASK + "labels:\n  - team\n") == [
        "labels[0]: a label must be a mapping `{key, value}`"
    ]
    assert messages(ONE_TASK + "labels:\n  team: {a: 1}\n") == [
        "labels.team: the value of label `team` must be a string, number or boolean"
    ]


# -- inputs and outputs ---------------------------------------------------------------------


def test_inputs_load_with_deprecated_name() -> None:
    flow = load(ONE_TASK + "inputs:\n  - name: who\n    type: STRING\n    defaults: Ada\n")
    assert flow.inputs and flow.inputs[0].id == "who"
    assert flow.find_input("who") is flow.inputs[0]


def test_input_rules() -> None:
    found = messages(
        ONE_TASK
        + """
inputs:
  - id: "wrong one"
    type: STRING
  - id: kind
    type: FOO
  - id: notype
  - id: file
    type: FILE
    defaults: kestra:///a.txt
  - id: arr
    type: ARRAY
    itemType: ARRAY
  - id: arr2
    type: ARRAY
  - id: re
    type: STRING
    validator: "(unclosed"
  - id: num
    type: INT
    validator: "x"
  - id: sel
    type: SELECT
  - id: kind
    type: STRING
  - id: when
    type: DATETIME
    after: yesterday
  - id: long
    type: STRING
    displayName: "%s"
"""
        % ("x" * 65)
    )
    assert found == [
        "inputs[0].id: invalid input id `wrong one`: it must match `^[a-zA-Z0-9][.a-zA-Z0-9_-]*$`",
        "inputs[1].type: invalid input type `FOO`, expected one of ARRAY, BOOL, BOOLEAN, DATE, "
        "DATETIME, DURATION, EMAIL, ENUM, FILE, FLOAT, INT, JSON, MULTISELECT, SECRET, SELECT, "
        "STRING, TIME, URI, YAML",
        "inputs[2]: missing required property `type`",
        "inputs[3].defaults: no `defaults` can be set for inputs of type FILE",
        "inputs[4].itemType: `itemType` cannot be `ARRAY`",
        "inputs[5]: missing required property `itemType` (ARRAY inputs need one)",
        "inputs[6].validator: validator `(unclosed` is not a valid regular expression: "
        "missing ), unterminated subpattern at position 0",
        "inputs[7].validator: unknown property `validator` on an input of type INT",
        "inputs[8]: a SELECT input needs `values` or `expression`",
        "inputs[9].id: duplicate input id `kind` (first used at inputs[1])",
        "inputs[10].after: `after` is not a valid DATETIME bound: it must be a valid `DATETIME` "
        "(ISO-8601 with `Z` or an offset)",
        "inputs[11].displayName: `displayName` must have at most 64 characters",
    ]


def test_input_depends_on_must_exist_and_be_acyclic() -> None:
    found = messages(
        ONE_TASK
        + """
inputs:
  - id: a
    type: STRING
    dependsOn: {inputs: [b]}
  - id: b
    type: STRING
    dependsOn: {inputs: [a, ghost]}
"""
    )
    assert found == [
        "inputs[0].dependsOn: cycle in input dependencies: a -> b -> a",
        "inputs[1].dependsOn.inputs[1]: input `b` depends on a non-existent input `ghost`",
    ]


def test_outputs_rules() -> None:
    found = messages(
        ONE_TASK
        + """
outputs:
  - id: out
    type: STRING
    value: x
  - id: out
    type: NOPE
    value: y
  - id: missing
"""
    )
    assert found == [
        "outputs[1].id: duplicate output id `out`",
        "outputs[1].type: invalid output type `NOPE`",
        "outputs[2]: missing required property `value`",
    ]


def test_flow_level_blocks() -> None:
    flow = load(
        ONE_TASK
        + """
concurrency: {limit: 2, behavior: CANCEL}
retry: {type: constant, maxAttempt: 3, interval: PT1S}
variables: {a: 1}
sla:
  - id: slow
    type: MAX_DURATION
    behavior: FAIL
    duration: PT1H
    labels: [{key: sla, value: missed}]
disabled: true
"""
    )
    assert flow.concurrency and flow.concurrency.limit == 2
    assert flow.retry and flow.retry.max_attempt == 3
    assert flow.sla and flow.sla[0].labels == {"sla": "missed"}
    assert flow.disabled is True
    assert messages(ONE_TASK + "concurrency: {limit: 0}\n") == [
        "concurrency.limit: `limit` must be greater than 0"
    ]
    assert messages(ONE_TASK + "concurrency: {limit: 1, behavior: WAIT}\n")[0].startswith(
        "concurrency.behavior: invalid value"
    )


def test_trigger_labels_are_normalized_and_checked() -> None:
    body = ONE_TASK + (
        "triggers:\n"
        "  - id: hook\n"
        "    type: io.kestra.plugin.core.trigger.Webhook\n"
        "    key: k\n"
        "    labels:\n"
        "      - {key: source, value: webhook}\n"
    )
    flow = load(body)
    assert flow.triggers and flow.triggers[0].labels == {"source": "webhook"}
    found = messages(body.replace("key: source", "key: system.x"))
    assert found == [
        "triggers[0].labels[0]: system labels can only be set by Kestra itself, "
        "offending label: system.x=webhook"
    ]


def test_non_strict_ignores_properties_an_input_type_does_not_have() -> None:
    flow = load(ONE_TASK + "inputs:\n  - id: n\n    type: INT\n    validator: x\n", strict=False)
    assert flow.inputs and flow.inputs[0].validator is None


def test_numbers_given_to_text_properties_become_text() -> None:
    flow = load_flow(flow_yaml(ONE_TASK, flow_id="2024", namespace="'2024'"))
    assert (flow.id, flow.namespace) == ("2024", "2024")
    flow = load(
        ONE_TASK
        + "triggers:\n  - id: hook\n    type: io.kestra.plugin.core.trigger.Webhook\n    key: 12345\n"
    )
    assert flow.triggers and flow.triggers[0].key == "12345"


def test_template_is_refused_with_what_to_do_instead() -> None:
    from kestrad.flows.loader import FlowLoadError, load_flow

    source = (
        "id: t\nnamespace: tests\ntasks:\n"
        "  - id: tpl\n    type: io.kestra.plugin.core.flow.Template\n"
        "    namespace: tests\n    templateId: shared\n"
    )
    try:
        load_flow(source, file="t.yml")
    except FlowLoadError as exc:
        text = str(exc)
    else:
        raise AssertionError("a Template task was accepted")
    assert "t.yml:5:11" in text and "Subflow" in text


@pytest.mark.parametrize(
    ("kind", "instead"),
    [
        ("storage.PurgeStorage", "PurgeExecutions"),
        ("storage.PurgeInternalStorage", "PurgeExecutions"),
        ("kv.PurgeKV", "kv.Delete"),
        ("namespace.PurgeFiles", "DeleteFiles"),
        ("templating.TemplatedTask", "rendered at run time"),
        ("flow.Loop", "LoopUntil"),
    ],
)
def test_core_types_not_run_here_are_refused_saying_why(kind: str, instead: str) -> None:
    """Every core type Kestra 1.x ships is known or refused with a reason (issue: Kestra 1.x
    flows), never a bare "unknown type" that leaves the user guessing."""
    from kestrad.flows.loader import FlowLoadError, load_flow

    source = f"id: t\nnamespace: tests\ntasks:\n  - id: x\n    type: io.kestra.plugin.core.{kind}\n"
    with pytest.raises(FlowLoadError) as caught:
        load_flow(source, file="t.yml")
    text = str(caught.value)
    assert "t.yml:5:11" in text and instead in text and "unknown task type" not in text


def test_dashed_keys_read_as_subtractions_are_refused() -> None:
    """Kestra: FlowValidationTest#inputUsageWithSubtractionSymbolFailValidation and
    #outputUsageWithSubtractionSymbolFailValidation; bracket notation passes, and ids with
    regular-expression characters are matched literally."""
    from kestrad.flows.loader import FlowLoadError, load_flow

    bad = (
        "id: t\nnamespace: tests\ninputs:\n  - id: a-b.c\n    type: STRING\n"
        "    defaults: x\ntasks:\n  - id: first-task\n"
        "    type: io.kestra.plugin.core.debug.Return\n    format: '{{ inputs.a-b.c }}'\n"
        "  - id: second\n    type: io.kestra.plugin.core.log.Log\n"
        "    message: '{{ outputs.first-task.value }}'\n"
    )
    with pytest.raises(FlowLoadError) as caught:
        load_flow(bad, file="t.yml")
    text = str(caught.value)
    assert "Invalid input reference" in text and "offending tasks: [first-task]" in text
    assert "Invalid output reference" in text and "offending tasks: [second]" in text
    good = bad.replace("inputs.a-b.c", 'inputs["a-b.c"]').replace(
        "outputs.first-task.value", 'outputs["first-task"].value'
    )
    assert load_flow(good, file="t.yml").id == "t"
    looks_alike = bad.replace("inputs.a-b.c", "inputs.aXb.c").replace(
        "outputs.first-task.value", "outputs.second.value"
    )
    assert load_flow(looks_alike, file="t.yml").id == "t"


def test_two_flow_triggers_may_not_share_a_preconditions_id() -> None:
    """Kestra: FlowValidationTest#duplicatePreconditionsIdShouldFailValidation."""
    from kestrad.flows.loader import FlowLoadError, load_flow

    trigger = (
        "  - id: {tid}\n    type: io.kestra.plugin.core.trigger.Flow\n    preconditions:\n"
        "      id: {pid}\n      flows:\n        - namespace: tests\n          flowId: a\n"
    )
    head = "id: t\nnamespace: tests\ntasks:\n  - id: x\n    type: io.kestra.plugin.core.log.Log\n    message: hi\ntriggers:\n"
    with pytest.raises(FlowLoadError) as caught:
        load_flow(
            head + trigger.format(tid="a", pid="w") + trigger.format(tid="b", pid="w"), file="t.yml"
        )
    assert "Duplicate preconditions with id [w]" in str(caught.value)
    ok = head + trigger.format(tid="a", pid="w") + trigger.format(tid="b", pid="v")
    assert load_flow(ok, file="t.yml").id == "t"
