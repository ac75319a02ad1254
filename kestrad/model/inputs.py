"""Resolving the inputs of a new execution (Kestra's FlowInputOutput, KESTRA-SPEC §1.2).

For each declared input: the provided value, else its `defaults`; a missing required
input is an error; the value is parsed by type and checked; an input whose `dependsOn`
is not met is dropped. Every bad input is reported, one message each, in one exception,
so a caller fixing a form sees everything at once.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

import msgspec

from kestrad.model.encryption import EncryptionError, decrypt
from kestrad.model.flow import Flow, Input
from kestrad.model.input_types import SECRET_MASK, InvalidValue, Options, parse_value, value_text


class InputError(msgspec.Struct, kw_only=True, frozen=True):
    """One bad input and what is wrong with it."""

    input_id: str
    message: str


class InputsInvalid(ValueError):
    """The provided inputs do not fit the flow; `errors` has one entry per bad input."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        super().__init__("; ".join(e.message for e in errors))


def resolve_inputs(
    flow: Flow,
    provided: Mapping[str, Any],
    *,
    renderer: Any,
    secret_key: str | None = None,
) -> dict[str, Any]:
    """The typed inputs of an execution of `flow`, dotted ids nested (`a.b` → `{a: {b: …}}`).

    `renderer` renders `dependsOn.condition` and SELECT `expression` (`render_typed(source,
    context)`); `secret_key` (base64) encrypts SECRET inputs. Undeclared inputs are ignored.
    """
    return _Resolver(flow, provided, renderer, secret_key).run()


def input_defaults(flow: Flow) -> dict[str, Any]:
    """The flow's input defaults, parsed where possible, nested like resolved inputs.

    Executions created by triggers see these under `inputs` even when no value was given.
    """
    flat: dict[str, Any] = {}
    for item in flow.inputs or ():
        if item.defaults is None:
            continue
        value = item.defaults
        if item.type != "SECRET":
            try:
                value = parse_value(item, value, Options(values=_static_values(item)))
            except (InvalidValue, ValueError):
                value = item.defaults
        flat[item.id] = value
    return nest(flat)


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """`{"a.b": 1, "c": 2}` → `{"a": {"b": 1}, "c": 2}`; a key clashing with a map is skipped."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            if not isinstance(node.get(parts[-1]), dict):
                node[parts[-1]] = value
    return out


def _static_values(item: Input) -> list[str] | None:
    values = item.values if item.values is not None else item.options
    if values is None:
        return None if item.expression else []
    return [value_text(v) for v in values]


_UNSET = object()


class _Resolver:
    """One resolution pass; inputs are visited in declaration order, dependencies first."""

    def __init__(
        self, flow: Flow, provided: Mapping[str, Any], renderer: Any, secret_key: str | None
    ) -> None:
        self.inputs = {item.id: item for item in flow.inputs or ()}
        self.provided = provided
        self.renderer = renderer
        self.secret_key = secret_key
        self.values: dict[str, Any] = {}  # enabled, valid inputs so far (flat ids)
        self.state: dict[str, str] = {}  # id → "ok" | "off" | "bad" | "busy"
        self.errors: list[InputError] = []

    def run(self) -> dict[str, Any]:
        for input_id in self.inputs:
            self._resolve(input_id)
        if self.errors:
            raise InputsInvalid(self.errors)
        return nest(self.values)

    def _resolve(self, input_id: str) -> str:
        state = self.state.get(input_id)
        if state is not None:
            # A cycle ("busy") is refused at load time; treat it as unmet here.
            return "off" if state == "busy" else state
        self.state[input_id] = "busy"
        item = self.inputs[input_id]
        state = self._enabled(item)
        if state == "ok":
            state = self._value(item)
        self.state[input_id] = state
        return state

    def _enabled(self, item: Input) -> str:
        depends = item.depends_on
        if depends is None:
            return "ok"
        for dep in depends.inputs:
            if dep not in self.inputs or self._resolve(dep) != "ok":
                return "off"
        if depends.condition is None:
            return "ok"
        try:
            result = self.renderer.render_typed(depends.condition, {"inputs": nest(self.values)})
        except Exception as exc:
            self._error(item, f"Invalid condition for input `{item.id}`: {exc}")
            return "bad"
        if result is True or (isinstance(result, str) and result.strip().lower() == "true"):
            return "ok"
        return "off"

    def _value(self, item: Input) -> str:
        value = self._provided(item.id)
        if value is None:
            value = item.defaults
        if value is None:
            if item.required:
                self._error(item, _message(item, "missing required input", None))
                return "bad"
            self.values[item.id] = None
            return "ok"
        try:
            options = Options(values=self._allowed(item), secret_key=self.secret_key)
            self.values[item.id] = parse_value(item, value, options)
        except InvalidValue as exc:
            self._error(item, _message(item, str(exc), value))
            return "bad"
        return "ok"

    def _provided(self, input_id: str) -> Any:
        value = self.provided.get(input_id, _UNSET)
        if value is not _UNSET:
            return value
        # A JSON caller may send dotted ids already nested: {"nested": {"int": 1}}.
        node: Any = self.provided
        for part in input_id.split("."):
            if not isinstance(node, Mapping) or part not in node:
                return None
            node = node[part]
        return node

    def _allowed(self, item: Input) -> list[str] | None:
        """Allowed values of SELECT/MULTISELECT, rendering `expression` when there is one."""
        if item.type not in {"SELECT", "MULTISELECT"} or not item.expression:
            return _static_values(item)
        try:
            rendered = self.renderer.render_typed(item.expression, {"inputs": nest(self.values)})
        except Exception as exc:
            raise InvalidValue(f"cannot render its `expression`: {exc}") from exc
        if isinstance(rendered, str):
            with contextlib.suppress(ValueError):
                rendered = json.loads(rendered)
        if not isinstance(rendered, list):
            raise InvalidValue("its `expression` must render a list of values")
        return [value_text(v) for v in rendered]

    def _error(self, item: Input, message: str) -> None:
        self.errors.append(InputError(input_id=item.id, message=message))


def _message(item: Input, reason: str, value: Any) -> str:
    """Kestra's wording: "Invalid input for `id`, <reason>, but received `<value>`"."""
    return f"Invalid input for `{item.id}`, {reason}, but received `{_shown(item, value)}`"


def _shown(item: Input, value: Any) -> str:
    if value is None:
        return "null"
    if item.type == "SECRET":
        return SECRET_MASK
    if isinstance(value, str):
        return value
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, msgspec.EncodeError):
        return str(value)


def reveal_secrets(
    flow: Flow, inputs: Mapping[str, Any], secret_key: str | None
) -> tuple[dict[str, Any], list[str]]:
    """The inputs a task renders, SECRET ones decrypted, and their plain values.

    A SECRET input is stored encrypted and decrypted only for the task that renders it,
    as in Kestra; its plain value is then masked (`******`) in every log line of that
    task. A value that does not decrypt (no key, another key) stays as stored.
    """
    out = dict(inputs)
    plain: list[str] = []
    if secret_key is None:
        return out, plain
    for item in flow.inputs or ():
        if item.type != "SECRET":
            continue
        *parents, last = item.id.split(".")
        node: Any = out
        for part in parents:
            child = node.get(part) if isinstance(node, dict) else None
            if not isinstance(child, dict):
                node = None
                break
            node[part] = child = dict(child)  # copy on the way down: the job's copy stays
            node = child
        value = node.get(last) if isinstance(node, dict) else None
        if not isinstance(value, str):
            continue
        try:
            revealed = decrypt(secret_key, value)
        except EncryptionError:
            continue
        node[last] = revealed
        if revealed:
            plain.append(revealed)
    return out, plain
