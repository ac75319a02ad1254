"""The task index of a loaded flow: lookups by id, parents, sections, the full walk."""

from __future__ import annotations

import msgspec

from kestrad.flows.loader import load_flow
from kestrad.model.flow import Flow
from kestrad.tasks.registry import resolve

SOURCE = """
id: tree
namespace: company.team
tasks:
  - id: outer
    type: io.kestra.plugin.core.flow.Sequential
    tasks:
      - id: branch
        type: io.kestra.plugin.core.flow.If
        condition: "{{ true }}"
        then:
          - id: deep
            type: io.kestra.plugin.core.log.Log
            message: deep
        else:
          - id: other
            type: io.kestra.plugin.core.log.Log
            message: other
    errors:
      - id: outer-error
        type: io.kestra.plugin.core.log.Log
        message: e
  - id: last
    type: io.kestra.plugin.core.log.Log
    message: last
errors:
  - id: on-error
    type: io.kestra.plugin.core.log.Log
    message: e
finally:
  - id: always
    type: io.kestra.plugin.core.log.Log
    message: f
afterExecution:
  - id: after
    type: io.kestra.plugin.core.log.Log
    message: a
listeners:
  - tasks:
      - id: listener
        type: io.kestra.plugin.core.log.Log
        message: l
"""


def test_all_tasks_walks_every_section_parents_first() -> None:
    flow = load_flow(SOURCE)
    assert [t.id for t in flow.all_tasks()] == [
        "outer",
        "branch",
        "deep",
        "other",
        "outer-error",
        "last",
        "on-error",
        "always",
        "after",
        "listener",
    ]


def test_find_task_parent_and_section() -> None:
    flow = load_flow(SOURCE)
    deep = flow.find_task("deep")
    assert deep is not None and deep.message == "deep"
    assert flow.find_task("nope") is None
    assert flow.find_parent("deep") is flow.find_task("branch")
    assert flow.find_parent("outer") is None
    assert [t.id for t in flow.find_parent_path("deep") or []] == ["outer", "branch"]
    assert flow.find_parent_path("outer") == []
    assert flow.find_parent_path("nope") is None
    assert flow.find_parent("outer-error") is flow.find_task("outer")
    assert [flow.section_of(i) for i in ("deep", "on-error", "always", "after", "listener")] == [
        "tasks",
        "errors",
        "finally",
        "afterExecution",
        "listeners",
    ]
    assert flow.section_of("nope") is None


def test_index_works_on_flows_built_in_code() -> None:
    log = resolve("io.kestra.plugin.core.log.Log")
    assert log is not None
    task = log(id="a", type="io.kestra.plugin.core.log.Log", message="m")
    flow = Flow(id="f", namespace="n", tasks=[task])
    assert flow.find_task("a") is task
    assert flow.uid == "n_f"


def test_flow_encodes_to_json_with_kestra_names() -> None:
    flow = load_flow(SOURCE)
    data = msgspec.to_builtins(flow)
    assert set(data) >= {"id", "namespace", "tasks", "finally", "afterExecution", "listeners"}
    assert data["tasks"][0]["tasks"][0]["then"][0]["id"] == "deep"
    assert data["tasks"][0]["tasks"][0]["else"][0]["id"] == "other"
