"""A flow as loaded from Kestra YAML: typed, validated, with a task index built once.

The Structs mirror Kestra's flow schema (KESTRA-SPEC §1) property for property, so an
unknown or misspelled key is an error, exactly like Kestra's strict parse. Tasks and
triggers are held as `list[Any]`: the loader builds each one with its own class first
(msgspec cannot place an already-built subclass into a base-class field).

Lookups by task id happen on every executor step, so the flow keeps a small index (id →
task, parent, section) built on first use and never rebuilt: a loaded flow is immutable.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from kestrad.model.retry import Retry
from kestrad.model.task_tree import walk

INPUT_TYPES: frozenset[str] = frozenset(
    {
        "STRING",
        "ENUM",
        "SELECT",
        "MULTISELECT",
        "INT",
        "FLOAT",
        "BOOLEAN",
        "BOOL",
        "DATETIME",
        "DATE",
        "TIME",
        "DURATION",
        "FILE",
        "JSON",
        "YAML",
        "URI",
        "SECRET",
        "ARRAY",
        "EMAIL",
    }
)

# Properties an input may carry beyond the common ones, by type. Kestra has one class per
# input type, so `min` on a STRING input is an unknown property there; one Struct here plus
# this table gives the same strictness.
INPUT_COMMON_PROPS: frozenset[str] = frozenset(
    {"id", "name", "type", "description", "displayName", "required", "defaults", "dependsOn"}
)
INPUT_TYPE_PROPS: dict[str, frozenset[str]] = {
    "STRING": frozenset({"validator"}),
    "ENUM": frozenset({"values"}),
    "SELECT": frozenset({"values", "expression", "allowCustomValue", "isRadio"}),
    "MULTISELECT": frozenset({"values", "options", "expression", "allowCustomValue", "itemType"}),
    "INT": frozenset({"min", "max"}),
    "FLOAT": frozenset({"min", "max"}),
    "BOOLEAN": frozenset(),
    "BOOL": frozenset(),
    "DATETIME": frozenset({"after", "before"}),
    "DATE": frozenset({"after", "before"}),
    "TIME": frozenset({"after", "before"}),
    "DURATION": frozenset({"min", "max"}),
    "FILE": frozenset({"extension"}),
    "JSON": frozenset(),
    "YAML": frozenset(),
    "URI": frozenset(),
    "SECRET": frozenset({"validator"}),
    "ARRAY": frozenset({"itemType"}),
    "EMAIL": frozenset(),
}

# Sections of a flow that hold task lists, in the order `all_tasks()` walks them.
SECTIONS = ("tasks", "errors", "finally", "afterExecution", "listeners")


class _Base(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, rename="camel"):
    """Strict, camelCase on the wire: the shape every flow-level Struct shares."""


class DependsOn(_Base):
    """An input shown only when its `inputs` are set and `condition` renders true."""

    inputs: list[str] = msgspec.field(default_factory=list)
    condition: str | None = None


class Input(_Base):
    """One flow input (KESTRA-SPEC §1.2); type-specific properties are checked by the loader."""

    id: str
    type: str
    name: str | None = None  # deprecated alias of `id`
    description: str | None = None
    display_name: str | None = None
    required: bool = True
    defaults: Any = None
    depends_on: DependsOn | None = None
    validator: str | None = None
    values: list[Any] | None = None
    options: list[Any] | None = None  # deprecated alias of MULTISELECT `values`
    expression: str | None = None
    allow_custom_value: bool = False
    is_radio: bool = False
    item_type: str | None = None
    min: int | float | str | None = None
    max: int | float | str | None = None
    after: str | None = None
    before: str | None = None
    extension: str | None = None


class Output(_Base):
    """A flow output, rendered when the execution ends."""

    id: str
    value: Any
    type: str | None = None
    description: str | None = None
    display_name: str | None = None
    required: bool | None = None


class PluginDefault(_Base):
    """Default property values for every plugin whose type equals or starts with `type`."""

    type: str
    values: dict[str, Any] = msgspec.field(default_factory=dict)
    forced: bool = False


class Concurrency(_Base):
    """At most `limit` running executions of the flow; `behavior` says what the next one does."""

    limit: int
    behavior: Literal["QUEUE", "CANCEL", "FAIL"] = "QUEUE"


class Listener(_Base):
    """Deprecated `listeners` entry: tasks run after the end when all conditions hold."""

    tasks: list[Any]
    description: str | None = None
    conditions: list[dict[str, Any]] | None = None


class SLA(_Base):
    """A service-level assertion on executions of the flow."""

    id: str
    type: Literal["MAX_DURATION", "EXECUTION_ASSERTION"]
    behavior: Literal["FAIL", "CANCEL", "NONE"]
    labels: dict[str, str] | None = None
    duration: str | None = None
    assert_: str | None = msgspec.field(default=None, name="assert")


class _Index:
    """Task lookups of one flow, built in a single walk."""

    __slots__ = ("order", "parents", "sections", "tasks")

    def __init__(self, flow: Flow) -> None:
        self.tasks: dict[str, Any] = {}
        self.parents: dict[str, Any | None] = {}
        self.sections: dict[str, str] = {}
        self.order: list[Any] = []
        for section, roots in flow.sections():
            for task, parent in walk(roots):
                self.order.append(task)
                # First wins: ids are unique in a valid flow; keep lookups stable otherwise.
                if task.id not in self.tasks:
                    self.tasks[task.id] = task
                    self.parents[task.id] = parent
                    self.sections[task.id] = section


class Flow(_Base, dict=True):
    """A Kestra flow. `finally` is `finally_` in Python; `taskDefaults` is read as pluginDefaults."""

    id: str
    namespace: str
    tasks: list[Any]
    revision: int | None = None
    description: str | None = None
    labels: dict[str, str] | None = None
    inputs: list[Input] | None = None
    variables: dict[str, Any] | None = None
    errors: list[Any] | None = None
    finally_: list[Any] | None = msgspec.field(default=None, name="finally")
    after_execution: list[Any] | None = None
    listeners: list[Listener] | None = None
    triggers: list[Any] | None = None
    plugin_defaults: list[PluginDefault] | None = None
    concurrency: Concurrency | None = None
    outputs: list[Output] | None = None
    retry: Retry | None = None
    sla: list[SLA] | None = None
    disabled: bool = False
    deleted: bool = False

    # -- identity -------------------------------------------------------------------------

    @property
    def uid(self) -> str:
        """`namespace_id_revision`, Kestra's flow uid (a missing revision is skipped)."""
        if self.revision is None:
            return f"{self.namespace}_{self.id}"
        return f"{self.namespace}_{self.id}_{self.revision}"

    @property
    def uid_without_revision(self) -> str:
        return f"{self.namespace}_{self.id}"

    @property
    def source(self) -> str | None:
        """The YAML text this flow was loaded from, when it came from the loader."""
        return self.__dict__.get("_source")

    # -- task lookups ---------------------------------------------------------------------

    def sections(self) -> list[tuple[str, list[Any]]]:
        """(section name, root tasks) for every section holding tasks, listeners flattened."""
        out: list[tuple[str, list[Any]]] = [("tasks", self.tasks)]
        if self.errors:
            out.append(("errors", self.errors))
        if self.finally_:
            out.append(("finally", self.finally_))
        if self.after_execution:
            out.append(("afterExecution", self.after_execution))
        for listener in self.listeners or ():
            out.append(("listeners", listener.tasks))
        return out

    def build_index(self) -> None:
        """Build the task index now (the loader does, so lookups never pay for it later)."""
        self.__dict__["_idx"] = _Index(self)

    def _index(self) -> _Index:
        index = self.__dict__.get("_idx")
        if index is None:
            index = _Index(self)
            self.__dict__["_idx"] = index
        return index

    def find_task(self, task_id: str) -> Any | None:
        """The task with this id anywhere in the flow, or None."""
        return self._index().tasks.get(task_id)

    def find_parent(self, task_id: str) -> Any | None:
        """The flowable directly holding `task_id`, or None for a root task (or unknown id)."""
        return self._index().parents.get(task_id)

    def find_parent_path(self, task_id: str) -> list[Any] | None:
        """Ancestors of `task_id`, outermost first ([] for a root task, None if unknown)."""
        index = self._index()
        if task_id not in index.tasks:
            return None
        path: list[Any] = []
        parent = index.parents.get(task_id)
        while parent is not None:
            path.append(parent)
            parent = index.parents.get(parent.id)
        path.reverse()
        return path

    def section_of(self, task_id: str) -> str | None:
        """Which section holds the task: tasks, errors, finally, afterExecution or listeners."""
        return self._index().sections.get(task_id)

    def all_tasks(self) -> list[Any]:
        """Every task of every section, nested ones included, parents before children."""
        return list(self._index().order)

    def find_trigger(self, trigger_id: str) -> Any | None:
        """The trigger with this id, or None."""
        for trigger in self.triggers or ():
            if trigger.id == trigger_id:
                return trigger
        return None

    def find_input(self, input_id: str) -> Input | None:
        """The declared input with this id, or None."""
        for item in self.inputs or ():
            if item.id == input_id:
                return item
        return None
