"""The expression engine: renders Kestra (Pebble) templates with a hardened Jinja2 sandbox.

Why it looks the way it does:

- It is on the hot path (every property of every task run), so a string without `{{`,
  `{%` or `{#` never reaches Jinja, compiled templates are cached by source text, and the
  context is read lazily: the runtime passes read-only mappings (`outputs` is a view over task
  runs) and only the keys a template names are ever looked up; nothing is copied.
- Flows are written for Kestra, so the dialect is Pebble's (`pebble.py` translates it), values
  print the way Java prints them (`output.py`), and strict variables apply: an undefined
  variable is an error ("Unable to find `x` used in the expression `…`"), except under `??`,
  `???`, `default`, `is defined`, `is null` and `is empty`.
- Templates come from flow authors, so rendering runs in `ImmutableSandboxedEnvironment`,
  attribute access only ever reads map keys, list items and a few safe attributes of our own
  types, and both time and output size are bounded.
- Most values hold no expression at all, so the Jinja2 side (`sandbox.py`: the environment,
  the function library, the Pebble translator) loads with the first value that does: a
  one-shot `kestrad run` of a flow of plain values never imports Jinja2.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from kestrad.expr.output import output_string

if TYPE_CHECKING:
    from kestrad.expr.sandbox import Sandbox, _Compiled

__all__ = ["ExpressionError", "Renderer", "is_template", "truthy"]

_MAX_EXPRESSION_IN_MESSAGE: Final = 2000
# how `Sandbox.run` returns a result
_TEXT, _TYPED = 0, 1


class ExpressionError(Exception):
    """An expression could not be rendered.

    `str(e)` names both the expression and the reason, e.g.
    "Unable to find `foo` used in the expression `{{ foo }}`".
    """

    expression: str
    reason: str

    def __init__(self, expression: str, reason: str) -> None:
        self.expression = expression
        self.reason = reason
        super().__init__(expression, reason)

    def __str__(self) -> str:
        expression = self.expression
        if len(expression) > _MAX_EXPRESSION_IN_MESSAGE:
            expression = expression[:_MAX_EXPRESSION_IN_MESSAGE] + "…"
        if self.reason.startswith("Unable to find `"):
            return f"{self.reason} used in the expression `{expression}`"
        return f"{self.reason} in the expression `{expression}`"


def is_template(s: str) -> bool:
    """Whether a string contains Pebble syntax and must be rendered."""
    return "{{" in s or "{%" in s or "{#" in s


_FALSE_STRINGS: Final = frozenset({"false", "0", "-0", ""})


def truthy(value: Any) -> bool:
    """Kestra's `TruthUtils.isTruthy` over a rendered value.

    A string is false iff, once trimmed, it is `false`, `0`, `-0` or empty (case-sensitive:
    `False` is true). Other values are judged on their rendered text, so `False`, `None` and
    `0` are false and `0.0` (rendered `0.0`) is true, as in Kestra.
    """
    if isinstance(value, str):
        return value.strip() not in _FALSE_STRINGS
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    return output_string(value).strip() not in _FALSE_STRINGS


class Renderer:
    """Renders Kestra expressions against a runtime context.

    One instance is meant to be shared (it holds the compiled-template cache); it is safe
    to use from several threads. Its Jinja2 sandbox is built with the first value that
    holds an expression; functions registered before that are kept and given to it then.
    """

    def __init__(
        self,
        *,
        globals_: Mapping[str, Any] | None = None,
        max_output: int = 10_000_000,
        time_budget: float = 2.0,
        cache_size: int = 4096,
    ) -> None:
        self._globals = globals_
        self._max_output = max_output
        self._time_budget = time_budget
        self._registered: list[tuple[str, Callable[..., Any], bool]] = []
        self._sandbox: Sandbox | None = None
        self._sandbox_lock = threading.Lock()
        self._compile = functools.lru_cache(maxsize=cache_size)(self._compile_uncached)

    # -- public API --------------------------------------------------------------------------

    def register_function(
        self, name: str, fn: Callable[..., Any], *, pass_context: bool = False
    ) -> None:
        """Add (or replace) a function callable from expressions as `name(...)`.

        With `pass_context=True` it is called as `fn(context_mapping, *args, **kwargs)`, where
        `context_mapping` is a read-only view of the variables of the current render.
        """
        with self._sandbox_lock:
            self._registered.append((name, fn, pass_context))
            if self._sandbox is not None:
                self._sandbox.register_function(name, fn, pass_context=pass_context)

    def function_names(self) -> list[str]:
        """Every function an expression may call, built-in and registered (`kv`, `read`…)."""
        return self._jinja().function_names()

    @staticmethod
    def filter_names() -> list[str]:
        """Every filter an expression may apply (`| date`, `| jq`, …)."""
        from kestrad.expr.functions import FILTERS

        return sorted(FILTERS)

    def render(self, source: str, context: Mapping[str, Any]) -> str:
        """Render a string with Pebble output rules; strings without tags are returned as is."""
        if "{" not in source or not is_template(source):
            return source
        compiled = self._compile(source)
        if compiled.error is not None:
            raise ExpressionError(source, compiled.error)
        return self._run(source, compiled, context, _TEXT)  # type: ignore[no-any-return]

    def render_typed(self, source: str, context: Mapping[str, Any]) -> Any:
        """Like `render`, but a value that is exactly one `{{ expr }}` keeps its native type."""
        if "{" not in source or not is_template(source):
            return source
        compiled = self._compile(source)
        if compiled.error is not None:
            raise ExpressionError(source, compiled.error)
        return self._run(source, compiled, context, _TYPED)

    def syntax_error(self, source: str) -> str | None:
        """Why `source` does not compile (`Unexpected token … at line 1`), or None; for
        checking expressions when a flow loads, before anything renders them."""
        if "{" not in source or not is_template(source):
            return None
        return self._compile(source).error

    def render_value(self, value: Any, context: Mapping[str, Any]) -> Any:
        """Render strings (as strings), and maps (keys and values) and lists recursively."""
        if type(value) is str:
            return self.render(value, context)
        if isinstance(value, Mapping):
            return {
                (self.render(k, context) if type(k) is str else k): self.render_value(v, context)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.render_value(item, context) for item in value]
        return value

    def render_value_typed(self, value: Any, context: Mapping[str, Any]) -> Any:
        """As `render_value`, but strings go through `render_typed`."""
        if type(value) is str:
            return self.render_typed(value, context)
        if isinstance(value, Mapping):
            return {
                (self.render(k, context) if type(k) is str else k): self.render_value_typed(
                    v, context
                )
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.render_value_typed(item, context) for item in value]
        return value

    # -- the Jinja2 side, built once ---------------------------------------------------------

    def _jinja(self) -> Sandbox:
        """The sandbox, built (and given the functions registered so far) on first use."""
        sandbox = self._sandbox
        if sandbox is not None:
            return sandbox
        from kestrad.expr.sandbox import Sandbox

        with self._sandbox_lock:
            sandbox = self._sandbox
            if sandbox is None:
                sandbox = Sandbox(self, self._max_output, self._time_budget)
                for name, fn, pass_context in self._registered:
                    sandbox.register_function(name, fn, pass_context=pass_context)
                # Renders after this one call the sandbox directly.
                self._run = sandbox.run  # type: ignore[method-assign]
                self._sandbox = sandbox
            return sandbox

    def _compile_uncached(self, source: str) -> _Compiled:
        return self._jinja().compile(source)

    def _run(self, source: str, compiled: _Compiled, context: Mapping[str, Any], mode: int) -> Any:
        # Only reached before the sandbox exists (a cached compilation implies it does).
        return self._jinja().run(source, compiled, context, mode)
