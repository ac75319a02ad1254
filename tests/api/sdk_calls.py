"""Every call of Kestra's Python SDK (`kestrapy`) whose route is in Kestra's open-source
webserver, each as a small function against a live daemon, and a census that runs them.

`python tests/api/sdk_calls.py [sqlite|postgres]` starts a daemon, runs each call once and
prints one line per call: `ok`, or the status and message it failed with. Calls of the
Enterprise Edition (users, roles, apps, secrets, audit logs, …) are not listed.
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sdk_support import TENANT, LiveDaemon

NS = "sdk.census"

HELLO = f"""
id: hello
namespace: {NS}
labels:
  team: data
inputs:
  - id: name
    type: STRING
    defaults: world
tasks:
  - id: greet
    type: io.kestra.plugin.core.log.Log
    message: "Hello {{{{ inputs.name }}}}"
  - id: out
    type: io.kestra.plugin.core.output.OutputValues
    values:
      greeting: "Hello {{{{ inputs.name }}}}"
outputs:
  - id: greeting
    type: STRING
    value: "{{{{ outputs.out.values.greeting }}}}"
"""

FILES = f"""
id: files
namespace: {NS}
inputs:
  - id: data
    type: FILE
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{{{ read(inputs.data) }}}}"
"""

PAUSED = f"""
id: paused
namespace: {NS}
tasks:
  - id: wait
    type: io.kestra.plugin.core.flow.Pause
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: resumed
"""

FAILING = f"""
id: failing
namespace: {NS}
tasks:
  - id: boom
    type: io.kestra.plugin.core.execution.Fail
    errorMessage: boom
"""

SLEEPY = f"""
id: sleepy
namespace: {NS}
tasks:
  - id: nap
    type: io.kestra.plugin.core.flow.Sleep
    duration: PT2S
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: woke
"""

HOOKED = f"""
id: hooked
namespace: {NS}
triggers:
  - id: hook
    type: io.kestra.plugin.core.trigger.Webhook
    key: k
tasks:
  - id: noop
    type: io.kestra.plugin.core.log.Log
    message: hooked
"""

SCHEDULED = f"""
id: scheduled
namespace: {NS}
triggers:
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 3 * * *"
tasks:
  - id: noop
    type: io.kestra.plugin.core.log.Log
    message: tick
"""


class Census:
    """The state the calls share: a client, the flows above, one finished execution."""

    def __init__(self, daemon: LiveDaemon) -> None:
        self.daemon = daemon
        self.client = daemon.client()
        for source in (HELLO, FILES, PAUSED, FAILING, SLEEPY, HOOKED, SCHEDULED):
            self.client.flows.create_flow(TENANT, source)
        done = self.client.executions.create_execution(
            TENANT, NS, "hello", wait=True, inputs={"name": "census"}
        )
        self.execution_id: str = done.id
        self.failed_id: str = self.client.executions.create_execution(
            TENANT, NS, "failing", wait=True
        ).id

    def fresh(self, flow: str = "hello", **options: Any) -> str:
        return self.client.executions.create_execution(TENANT, NS, flow, **options).id


def _f(field: str, op: str, value: Any) -> Any:
    from kestrapy.models.query_filter import QueryFilter

    return QueryFilter(field=field, operation=op, value=value)


def _id(flow: str = "hello") -> Any:
    from kestrapy.models.id_with_namespace import IdWithNamespace

    return IdWithNamespace(namespace=NS, id=flow)


Call = Callable[[Census], Any]
CALLS: dict[str, Call] = {}


def call(name: str) -> Callable[[Call], Call]:
    def register(fn: Call) -> Call:
        CALLS[name] = fn
        return fn

    return register


# -- flows -------------------------------------------------------------------------------------
call("flows.create_flow")(
    lambda c: c.client.flows.create_flow(TENANT, HELLO.replace("id: hello", f"id: c{_u()}"))
)
call("flows.flow")(lambda c: c.client.flows.flow(NS, "hello", TENANT, source=True))
call("flows.update_flow")(lambda c: c.client.flows.update_flow(NS, "hello", TENANT, HELLO))
call("flows.delete_flow")(lambda c: c.client.flows.delete_flow(NS, _throwaway(c), TENANT))
call("flows.search_flows")(
    lambda c: c.client.flows.search_flows(TENANT, filters=[_f("namespace", "EQUALS", NS)])
)
call("flows.list_flows_by_namespace")(lambda c: c.client.flows.list_flows_by_namespace(NS, TENANT))
call("flows.list_distinct_namespaces")(lambda c: c.client.flows.list_distinct_namespaces(TENANT))
call("flows.list_flow_revisions")(lambda c: c.client.flows.list_flow_revisions(NS, "hello", TENANT))
call("flows.generate_flow_graph")(lambda c: c.client.flows.generate_flow_graph(NS, "hello", TENANT))
call("flows.flow_dependencies")(lambda c: c.client.flows.flow_dependencies(NS, "hello", TENANT))
call("flows.task_from_flow")(lambda c: c.client.flows.task_from_flow(NS, "hello", "greet", TENANT))
call("flows.validate_flows")(lambda c: c.client.flows.validate_flows(TENANT, HELLO))
call("flows.export_flows_by_ids")(lambda c: c.client.flows.export_flows_by_ids(TENANT, [_id()]))
call("flows.export_flows_by_query")(
    lambda c: c.client.flows.export_flows_by_query(TENANT, [_f("namespace", "EQUALS", NS)])
)
call("flows.import_flows")(lambda c: c.client.flows.import_flows(TENANT, file_content=HELLO))
call("flows.disable_flows_by_ids")(
    lambda c: c.client.flows.disable_flows_by_ids(TENANT, [_id(_throwaway(c))])
)
call("flows.enable_flows_by_ids")(lambda c: c.client.flows.enable_flows_by_ids(TENANT, [_id()]))
call("flows.disable_flows_by_query")(
    lambda c: c.client.flows.disable_flows_by_query(
        TENANT, [_f("namespace", "EQUALS", _throwaway_ns(c))]
    )
)
call("flows.enable_flows_by_query")(
    lambda c: c.client.flows.enable_flows_by_query(TENANT, [_f("namespace", "EQUALS", NS)])
)
call("flows.delete_flows_by_ids")(
    lambda c: c.client.flows.delete_flows_by_ids(TENANT, [_id(_throwaway(c))])
)
call("flows.delete_flows_by_query")(
    lambda c: c.client.flows.delete_flows_by_query(
        TENANT, [_f("namespace", "EQUALS", _throwaway_ns(c))]
    )
)
call("flows.update_flows_in_namespace")(
    lambda c: c.client.flows.update_flows_in_namespace(NS, TENANT, HELLO)
)
call("flows.generate_flow_graph_from_source")(
    lambda c: c.client.flows.generate_flow_graph_from_source(TENANT, HELLO)
)
call("flows.flow_dependencies_from_namespace")(
    lambda c: c.client.flows.flow_dependencies_from_namespace(NS, TENANT)
)
call("executions.latest_executions")(
    lambda c: c.client.executions.latest_executions(TENANT, [{"namespace": NS, "id": "hello"}])
)
call("executions.trigger_execution_by_get_webhook")(
    lambda c: c.client.executions.trigger_execution_by_get_webhook(TENANT, NS, "hooked", "k")
)
call("logs.follow_logs_from_execution")(
    lambda c: list(c.client.logs.follow_logs_from_execution(c.execution_id, TENANT))
)
call("files.search_namespace_files")(
    lambda c: (_nsfile(c), c.client.files.search_namespace_files(NS, "scripts", TENANT))[1]
)
call("flows.bulk_update_flows")(lambda c: c.client.flows.bulk_update_flows(TENANT, body=HELLO))


# -- executions --------------------------------------------------------------------------------
call("executions.create_execution")(lambda c: c.fresh())
call("executions.execution")(lambda c: c.client.executions.execution(c.execution_id, TENANT))
call("executions.search_executions")(
    lambda c: c.client.executions.search_executions(
        TENANT, filters=[_f("namespace", "EQUALS", NS), _f("state", "IN", ["SUCCESS"])]
    )
)
call("executions.search_executions_by_flow_id")(
    lambda c: c.client.executions.search_executions_by_flow_id(TENANT, NS, "hello")
)
call("executions.execution_flow_graph")(
    lambda c: c.client.executions.execution_flow_graph(c.execution_id, TENANT)
)
call("executions.flow_from_execution")(
    lambda c: c.client.executions.flow_from_execution(TENANT, NS, "hello")
)
call("executions.flow_from_execution_by_id")(
    lambda c: c.client.executions.flow_from_execution_by_id(c.execution_id, TENANT)
)
call("executions.kill_execution")(
    lambda c: c.client.executions.kill_execution(c.fresh("paused"), TENANT)
)
call("executions.kill_executions_by_ids")(
    lambda c: c.client.executions.kill_executions_by_ids(TENANT, [c.fresh("paused")])
)
call("executions.kill_executions_by_query")(
    lambda c: c.client.executions.kill_executions_by_query(
        TENANT, [_f("flowId", "EQUALS", "paused"), _f("namespace", "EQUALS", NS)]
    )
)
call("executions.delete_execution")(
    lambda c: c.client.executions.delete_execution(c.fresh(wait=True), TENANT, delete_logs=True)
)
call("executions.delete_executions_by_ids")(
    lambda c: c.client.executions.delete_executions_by_ids(TENANT, [c.fresh(wait=True)])
)
call("executions.delete_executions_by_query")(
    lambda c: c.client.executions.delete_executions_by_query(
        TENANT, [_f("flowId", "EQUALS", "failing"), _f("namespace", "EQUALS", NS + ".gone")]
    )
)
call("executions.pause_execution")(
    lambda c: c.client.executions.pause_execution(_running(c), TENANT)
)
call("executions.resume_execution")(
    lambda c: c.client.executions.resume_execution(_paused(c), TENANT)
)
call("executions.resume_executions_by_ids")(
    lambda c: c.client.executions.resume_executions_by_ids(TENANT, [_paused(c)])
)
call("executions.resume_executions_by_query")(
    lambda c: c.client.executions.resume_executions_by_query(
        TENANT, [_f("flowId", "EQUALS", "paused"), _f("state", "EQUALS", "PAUSED")]
    )
)
call("executions.restart_execution")(
    lambda c: c.client.executions.restart_execution(c.failed_id, TENANT)
)
call("executions.restart_executions_by_ids")(
    lambda c: c.client.executions.restart_executions_by_ids(TENANT, [c.fresh("failing", wait=True)])
)
call("executions.restart_executions_by_query")(
    lambda c: c.client.executions.restart_executions_by_query(
        TENANT, [_f("flowId", "EQUALS", "failing"), _f("state", "EQUALS", "FAILED")]
    )
)
call("executions.replay_execution")(
    lambda c: c.client.executions.replay_execution(c.execution_id, TENANT)
)
call("executions.replay_execution_with_inputs")(
    lambda c: c.client.executions.replay_execution_with_inputs(
        c.execution_id, TENANT, inputs={"name": "again"}
    )
)
call("executions.replay_executions_by_ids")(
    lambda c: c.client.executions.replay_executions_by_ids(TENANT, [c.execution_id])
)
call("executions.replay_executions_by_query")(
    lambda c: c.client.executions.replay_executions_by_query(
        TENANT, [_f("flowId", "EQUALS", "hello"), _f("labels", "EQUALS", {"run": "census"})]
    )
)
call("executions.set_labels_on_terminated_execution")(
    lambda c: c.client.executions.set_labels_on_terminated_execution(
        c.execution_id, TENANT, [{"key": "run", "value": "census"}]
    )
)
call("executions.set_labels_on_terminated_executions_by_ids")(
    lambda c: c.client.executions.set_labels_on_terminated_executions_by_ids(
        TENANT,
        {"executionsId": [c.execution_id], "executionLabels": [{"key": "b", "value": "1"}]},
    )
)
call("executions.set_labels_on_terminated_executions_by_query")(
    lambda c: c.client.executions.set_labels_on_terminated_executions_by_query(
        TENANT, [{"key": "q", "value": "1"}], [_f("flowId", "EQUALS", "hello")]
    )
)
call("executions.update_execution_status")(
    lambda c: c.client.executions.update_execution_status(c.fresh(wait=True), "FAILED", TENANT)
)
call("executions.update_executions_status_by_ids")(
    lambda c: c.client.executions.update_executions_status_by_ids(
        TENANT, "SUCCESS", [c.fresh("failing", wait=True)]
    )
)
call("executions.update_executions_status_by_query")(
    lambda c: c.client.executions.update_executions_status_by_query(
        TENANT, "SUCCESS", [_f("flowId", "EQUALS", "failing"), _f("state", "EQUALS", "FAILED")]
    )
)
call("executions.follow_execution")(
    lambda c: list(c.client.executions.follow_execution(c.execution_id, TENANT))
)
call("executions.validate_new_execution_inputs")(
    lambda c: c.client.executions.validate_new_execution_inputs(
        NS, "hello", TENANT, inputs={"name": "x"}
    )
)
call("executions.download_file_from_execution")(
    lambda c: c.client.executions.download_file_from_execution(*_file(c), TENANT)
)
call("executions.file_metadatas_from_execution")(
    lambda c: c.client.executions.file_metadatas_from_execution(*_file(c), TENANT)
)
call("executions.preview_file_from_execution")(
    lambda c: c.client.executions.preview_file_from_execution(*_file(c), TENANT)
)
call("executions.list_executable_namespaces")(
    lambda c: c.client.executions.list_executable_namespaces(TENANT)
)
call("executions.list_executable_flows_by_namespace")(
    lambda c: c.client.executions.list_executable_flows_by_namespace(NS, TENANT)
)


# -- logs --------------------------------------------------------------------------------------
call("logs.list_logs_from_execution")(
    lambda c: c.client.logs.list_logs_from_execution(c.execution_id, TENANT)
)
call("logs.download_logs_from_execution")(
    lambda c: c.client.logs.download_logs_from_execution(c.execution_id, TENANT)
)
call("logs.delete_logs_from_execution")(
    lambda c: c.client.logs.delete_logs_from_execution(c.fresh(wait=True), TENANT)
)
call("logs.search_logs")(
    lambda c: c.client.logs.search_logs(TENANT, filters=[_f("namespace", "EQUALS", NS)])
)
call("logs.delete_logs_from_flow")(
    lambda c: c.client.logs.delete_logs_from_flow(NS, "scheduled", "nightly", TENANT)
)


# -- kv ----------------------------------------------------------------------------------------
call("kv.set_key_value")(lambda c: c.client.kv.set_key_value(NS, "k1", TENANT, '"v1"'))
call("kv.key_value")(lambda c: (_kv(c), c.client.kv.key_value(NS, "k2", TENANT))[1])
call("kv.list_keys_with_inheritance")(
    lambda c: (_kv(c), c.client.kv.list_keys_with_inheritance(NS + ".child", TENANT))[1]
)
call("kv.list_all_keys")(
    lambda c: c.client.kv.list_all_keys(TENANT, filters=[_f("namespace", "EQUALS", NS)])
)
call("kv.delete_key_value")(lambda c: (_kv(c), c.client.kv.delete_key_value(NS, "k2", TENANT))[1])
call("kv.delete_key_values")(
    lambda c: (_kv(c), c.client.kv.delete_key_values(NS, TENANT, {"keys": ["k2"]}))[1]
)


# -- triggers ----------------------------------------------------------------------------------
_TRIGGER = {"namespace": NS, "flowId": "scheduled", "triggerId": "nightly"}
call("triggers.search_triggers")(
    lambda c: c.client.triggers.search_triggers(TENANT, filters=[_f("namespace", "EQUALS", NS)])
)
call("triggers.search_triggers_for_flow")(
    lambda c: c.client.triggers.search_triggers_for_flow(TENANT, NS, "scheduled")
)
call("triggers.disable_trigger_by_id")(
    lambda c: c.client.triggers.disable_trigger_by_id(TENANT, {**_TRIGGER, "disabled": False})
)
call("triggers.disabled_triggers_by_ids")(
    lambda c: c.client.triggers.disabled_triggers_by_ids(
        TENANT, {"triggers": [_TRIGGER], "disabled": False}
    )
)
call("triggers.disabled_triggers_by_query")(
    lambda c: c.client.triggers.disabled_triggers_by_query(
        TENANT, False, [_f("namespace", "EQUALS", NS)]
    )
)
call("triggers.unlock_trigger")(
    lambda c: c.client.triggers.unlock_trigger(TENANT, NS, "scheduled", "nightly")
)
call("triggers.restart_trigger")(
    lambda c: c.client.triggers.restart_trigger(TENANT, NS, "scheduled", "nightly")
)
call("triggers.unlock_triggers_by_ids")(
    lambda c: c.client.triggers.unlock_triggers_by_ids(TENANT, [_TRIGGER])
)
call("triggers.unlock_triggers_by_query")(
    lambda c: c.client.triggers.unlock_triggers_by_query(TENANT, [_f("namespace", "EQUALS", NS)])
)


# -- namespaces and their files ----------------------------------------------------------------
call("namespaces.namespace")(lambda c: c.client.namespaces.namespace(NS, TENANT))
call("namespaces.search_namespaces")(lambda c: c.client.namespaces.search_namespaces(TENANT))
call("files.create_namespace_file")(
    lambda c: c.client.files.create_namespace_file(NS, "/scripts/a.py", TENANT, b"print(1)\n")
)
call("files.list_namespace_directory_files")(
    lambda c: (_nsfile(c), c.client.files.list_namespace_directory_files(NS, TENANT, "/scripts"))[1]
)
call("files.file_content")(
    lambda c: (_nsfile(c), c.client.files.file_content(NS, "/scripts/a.py", TENANT))[1]
)
call("files.file_metadatas")(
    lambda c: (_nsfile(c), c.client.files.file_metadatas(NS, TENANT, "/scripts/a.py"))[1]
)
call("files.create_namespace_directory")(
    lambda c: c.client.files.create_namespace_directory(NS, TENANT, "/empty")
)
call("files.move_file_directory")(
    lambda c: (
        _nsfile(c, "/m/x.txt"),
        c.client.files.move_file_directory(NS, "/m/x.txt", "/m/y.txt", TENANT),
    )[1]
)
call("files.delete_file_directory")(
    lambda c: (_nsfile(c, "/d.txt"), c.client.files.delete_file_directory(NS, "/d.txt", TENANT))[1]
)


# -- plugins and misc --------------------------------------------------------------------------
call("plugins.list_plugins")(lambda c: c.client.plugins.list_plugins())
call("plugins.plugin_schema")(lambda c: c.client.plugins.plugin_schema("FLOW"))
call("plugins.plugin_input_types")(lambda c: c.client.plugins.plugin_input_types())
call("plugins.plugin_documentation")(
    lambda c: c.client.plugins.plugin_documentation("io.kestra.plugin.core.log.Log")
)
call("misc.configuration")(lambda c: c.client.misc.configuration())
call("misc.pebble_functions")(lambda c: c.client.misc.pebble_functions())
call("misc.pebble_filters")(lambda c: c.client.misc.pebble_filters())
call("misc.basic_auth_validation_errors")(lambda c: c.client.misc.basic_auth_validation_errors())


# -- helpers the calls share -------------------------------------------------------------------
def _u() -> str:
    return uuid.uuid4().hex[:8]


def _throwaway(c: Census) -> str:
    flow_id = f"t{_u()}"
    c.client.flows.create_flow(TENANT, HELLO.replace("id: hello", f"id: {flow_id}"))
    return flow_id


def _throwaway_ns(c: Census) -> str:
    namespace = f"{NS}.t{_u()}"
    c.client.flows.create_flow(TENANT, HELLO.replace(f"namespace: {NS}", f"namespace: {namespace}"))
    return namespace


def _paused(c: Census) -> str:
    from sdk_support import wait_until

    execution_id = c.fresh("paused")
    wait_until(
        lambda: c.client.executions.execution(execution_id, TENANT).state.current == "PAUSED",
        what="a PAUSED execution",
    )
    return execution_id


def _running(c: Census) -> str:
    from sdk_support import wait_until

    execution_id = c.fresh("sleepy")
    wait_until(
        lambda: c.client.executions.execution(execution_id, TENANT).state.current == "RUNNING",
        what="a RUNNING execution",
    )
    return execution_id


def _file(c: Census) -> tuple[str, str]:
    done = c.client.executions.create_execution(
        TENANT, NS, "files", wait=True, inputs={"data": ("data.txt", b"a,b\n1,2\n")}
    )
    return done.id, done.inputs["data"]


def _kv(c: Census) -> None:
    c.client.kv.set_key_value(NS, "k2", TENANT, '"v2"')


def _nsfile(c: Census, path: str = "/scripts/a.py") -> None:
    c.client.files.create_namespace_file(NS, path, TENANT, b"print(1)\n")


def run_census(backend: str = "sqlite") -> list[tuple[str, str]]:
    """(call, "ok" or why it failed) for every call, against a fresh daemon."""
    out: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        daemon = LiveDaemon(Path(tmp), backend).start()
        try:
            census = Census(daemon)
            for name, fn in CALLS.items():
                try:
                    fn(census)
                    out.append((name, "ok"))
                except Exception as exc:
                    status = getattr(exc, "status", "")
                    body = str(getattr(exc, "body", "") or exc).replace("\n", " ")[:120]
                    out.append((name, f"FAIL {status} {type(exc).__name__}: {body}"))
        finally:
            daemon.close()
    return out


if __name__ == "__main__":
    results = run_census(sys.argv[1] if len(sys.argv) > 1 else "sqlite")
    for name, outcome in results:
        print(f"{name:58} {outcome}")
    working = sum(1 for _, outcome in results if outcome == "ok")
    print(f"\n{working}/{len(results)} OSS calls of kestrapy work")
