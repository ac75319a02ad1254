"""A flow's topology as Kestra's `FlowGraph`: nodes, edges and clusters (one per flowable's
branch), what editors draw. Pure: from the loaded flow's task tree, no I/O.

Each task is a `GraphTask` node (uid: its id, prefixed by its branch's cluster path), the
flow a cluster between `root.root` and `root.end`; tasks of a list follow each other
(SEQUENTIAL), a flowable's branches start from it and join at its end node.
"""

from __future__ import annotations

from typing import Any

from kestrad.model.task_tree import iter_children

TASK = "io.kestra.core.models.hierarchies.GraphTask"
CLUSTER = "io.kestra.core.models.hierarchies.GraphCluster"
ROOT = "io.kestra.core.models.hierarchies.GraphClusterRoot"
END = "io.kestra.core.models.hierarchies.GraphClusterEnd"


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.edges: list[dict[str, Any]] = []
        self.clusters: list[dict[str, Any]] = []

    def node(self, uid: str, kind: str, task: Any = None) -> str:
        node: dict[str, Any] = {"uid": uid, "type": kind}
        if task is not None:
            node["task"] = {"id": task.id, "type": task.type}
        self.nodes.append(node)
        return uid

    def edge(self, source: str, target: str, relation: str = "SEQUENTIAL") -> None:
        self.edges.append(
            {"source": source, "target": target, "relation": {"relationType": relation}}
        )

    def chain(
        self, tasks: list[Any], prefix: str, start: str, end: str, parents: list[str]
    ) -> None:
        """`tasks` one after the other from `start` to `end`."""
        previous = start
        for task in tasks:
            first, last = self.task(task, prefix, parents)
            self.edge(previous, first)
            previous = last
        self.edge(previous, end)

    def task(self, task: Any, prefix: str, parents: list[str]) -> tuple[str, str]:
        """Add `task` (and its branches); its entry and exit node uids."""
        uid = self.node(f"{prefix}{task.id}", TASK, task)
        branches = list(iter_children(task))
        if not branches:
            return uid, uid
        cluster = f"cluster_{prefix}{task.id}"
        end = self.node(f"{cluster}.end", END)
        before = len(self.nodes)
        for label, children in branches:
            relation = "ERROR" if label == "errors" else "PARALLEL"
            start_index = len(self.edges)
            self.chain(children, f"{cluster}.", uid, end, [*parents, cluster])
            if start_index < len(self.edges):
                self.edges[start_index]["relation"] = {"relationType": relation, "value": label}
        members = [n["uid"] for n in self.nodes[before:]]
        self.clusters.append(
            {
                "cluster": {"uid": cluster, "type": CLUSTER, "taskNode": {"uid": uid}},
                "nodes": [uid, *members],
                "parents": parents,
                "start": uid,
                "end": end,
            }
        )
        return uid, end


def flow_graph(flow: Any) -> dict[str, Any]:
    """Kestra's FlowGraph JSON of a loaded flow."""
    graph = _Graph()
    start = graph.node("root.root", ROOT)
    end = graph.node("root.end", END)
    graph.chain(list(flow.tasks or ()), "", start, end, [])
    if flow.errors:
        error_start = graph.node("root.errors", ROOT)
        graph.chain(list(flow.errors), "errors.", error_start, end, [])
    return {"nodes": graph.nodes, "edges": graph.edges, "clusters": graph.clusters, "flowables": []}
