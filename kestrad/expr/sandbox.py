"""The Jinja2 side of the expression engine: the sandboxed environment, Pebble's strict
undefined values, the lazy operators' code generation, the rendering context, and the
compiling and running of templates.

`engine.Renderer` loads this module when it first meets a value holding an expression: a
flow whose values are plain text (a Log message without `{{`) never loads Jinja2, nor the
function library, nor the Pebble translator. See `engine.py` for why the engine looks the
way it does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from types import BuiltinMethodType, MethodType
from typing import TYPE_CHECKING, Any, Final

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from jinja2.runtime import Context, LoopContext, Macro, Undefined, missing
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context as _jinja_pass_context

from kestrad.expr import functions as fn
from kestrad.expr.engine import _TYPED, ExpressionError, is_template
from kestrad.expr.errors import UndefinedValue
from kestrad.expr.output import Entry, output_string
from kestrad.expr.pebble import (
    FUNCTION_PREFIX,
    NAMESPACE,
    VARIABLE_PREFIX,
    PebbleSyntaxError,
    translate,
)

if TYPE_CHECKING:
    from kestrad.expr.engine import Renderer

_RESULT: Final = "_kestra_result"
_MAX_RECURSIVE_RENDERS: Final = 100
_MAX_DEPTH: Final = 32
# What an unknown variable raises, and what a function raises for a missing value.
_UNDEFINED: Final = (UndefinedError, UndefinedValue)


# -- undefined ------------------------------------------------------------------------------


class KestraUndefined(Undefined):
    """Pebble's strict variables, made lazy.

    Chaining (`a.b.c` with `a` missing) yields the same undefined value so that `??`,
    `default`, `is defined`… can look at it; any real use (printing, iterating, comparing,
    arithmetic, truth value) raises "Unable to find `a`".
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__" and name[-2:] == "__":
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> Any:
        return self

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        name = self._undefined_name
        if isinstance(name, str) and name.startswith(VARIABLE_PREFIX):
            name = name[len(VARIABLE_PREFIX) :]
        return f"Unable to find `{name}`"

    __iter__ = __str__ = __len__ = Undefined._fail_with_undefined_error  # type: ignore[assignment]
    __eq__ = __ne__ = __bool__ = __hash__ = Undefined._fail_with_undefined_error  # type: ignore[assignment]
    __contains__ = Undefined._fail_with_undefined_error  # type: ignore[assignment]


def _undefined_reason(error: Exception) -> str:
    return str(error) if str(error) else "Unable to find a variable"


class _MissingFunction:
    """Stands for a function that does not exist; calling it is the error (as in Pebble)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise fn.FunctionError(f"Function or Macro [{self.name}] does not exist.")


# -- code generation ------------------------------------------------------------------------

# Filters/tests whose left side must be evaluated lazily, so that an undefined value (or an
# error raised while evaluating it) can be caught, and whose right side is only evaluated
# when needed: `??`, `???`, `default`, `is defined`.
_LAZY_FILTERS: Final = {"_pb_nc": "kestra_nc", "_pb_uc": "kestra_uc", "default": "kestra_default"}
_LAZY_TESTS: Final = {"defined": "kestra_defined"}


class _CodeGenerator(CodeGenerator):
    """Compiles the lazy operators as `environment.helper(lambda: left, lambda: right)`."""

    def visit_Filter(self, node: nodes.Filter, frame: Frame) -> None:
        helper = _LAZY_FILTERS.get(node.name)
        if helper is None or node.node is None or node.kwargs or node.dyn_args or node.dyn_kwargs:
            super().visit_Filter(node, frame)
            return
        self.write(f"environment.{helper}((lambda: ")
        self.visit(node.node, frame)
        self.write(")")
        for arg in node.args:
            self.write(", (lambda: ")
            self.visit(arg, frame)
            self.write(")")
        self.write(")")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        # literals are strict in Pebble: `[x]` fails when `x` is undefined
        self.write("environment.kestra_strict(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.kestra_strict(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Test(self, node: nodes.Test, frame: Frame) -> None:
        helper = _LAZY_TESTS.get(node.name)
        if helper is None or node.args or node.kwargs or node.dyn_args or node.dyn_kwargs:
            super().visit_Test(node, frame)
            return
        self.write(f"environment.{helper}((lambda: ")
        self.visit(node.node, frame)
        self.write("))")


# -- environment ----------------------------------------------------------------------------

_ATTRIBUTE_TYPES: Final = (LoopContext, Macro)


class _Environment(ImmutableSandboxedEnvironment):
    """Jinja sandbox with Pebble's attribute rules, Java arithmetic and lazy operators."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset(fn.BINOPS)

    def __init__(self, max_output: int, time_budget: float) -> None:
        self.max_output = max_output
        self.time_budget = time_budget
        self._callables: dict[int, Callable[..., Any]] = {}
        super().__init__(
            undefined=KestraUndefined,
            finalize=output_string,
            autoescape=False,
            keep_trailing_newline=True,
            cache_size=0,
            auto_reload=False,
        )
        # Only Kestra's vocabulary: Jinja's own globals/filters/tests (`attr`, `format`,
        # `map(attribute=…)`, `lipsum`, `cycler`, `namespace`…) are not Pebble and widen the
        # attack surface.
        self.globals.clear()
        self.filters = dict(fn.FILTERS)
        self.tests = dict(fn.TESTS)

    # Pebble reads map keys, list items and nothing else from data.
    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict:
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return self._lookup(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if type(obj) is dict:
            try:
                return obj[argument]
            except (KeyError, TypeError):
                pass
        return self._lookup(obj, argument)

    def _lookup(self, obj: Any, key: Any) -> Any:
        if isinstance(obj, Undefined):
            return obj
        if obj is None:
            return self.undefined(obj=None, name=key)
        if isinstance(obj, Mapping):
            try:
                return obj[key]
            except (KeyError, TypeError):
                pass
            if type(key) is int:
                try:
                    return obj[str(key)]
                except KeyError:
                    pass
            return self.undefined(obj=obj, name=key)
        if type(obj) is Entry:
            if key in ("key", 0):
                return obj.key
            if key in ("value", 1):
                return obj.value
            return self.undefined(obj=obj, name=key)
        if isinstance(obj, list | tuple | str):
            index = key
            if isinstance(key, str) and key.lstrip("-").isdigit():
                index = int(key)
            if type(index) is int:
                try:
                    return obj[index]
                except IndexError:
                    pass
            return self.undefined(obj=obj, name=key)
        if isinstance(obj, _ATTRIBUTE_TYPES) and isinstance(key, str):
            return super().getattr(obj, key)
        return self.undefined(obj=obj, name=key)

    def allow_callable(self, function: Callable[..., Any]) -> None:
        """Let expressions call `function` (a registered function)."""
        self._callables[id(function)] = function

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Only registered functions, macros and loop helpers may be called.

        Pebble syntax can only call functions by name, but a callable could still reach a
        template as data (e.g. a `str.format` method); Jinja 3.1.6 only guards format methods
        fetched by attribute access, so anything else is refused here.
        """
        if isinstance(obj, MethodType | BuiltinMethodType) and isinstance(
            getattr(obj, "__self__", None), str
        ):
            raise SecurityError(
                "string methods (str.format...) are not callable from an expression"
            )
        if not (
            id(obj) in self._callables
            or isinstance(obj, Macro | _MissingFunction)
            or (isinstance(obj, MethodType) and isinstance(obj.__self__, LoopContext))
        ):
            raise SecurityError(f"{type(obj).__name__} object is not callable from an expression")
        for arg in (*args, *kwargs.values()):
            if isinstance(arg, Undefined):
                arg._fail_with_undefined_error()  # arguments are evaluated strictly
        return super().call(context, obj, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return fn.BINOPS[operator](left, right, self.max_output)

    # lazy operators, called by the generated code
    @staticmethod
    def kestra_strict(value: Any) -> Any:
        """A list or map literal, refused if it holds an undefined value."""
        items = value.items() if isinstance(value, dict) else ((item, None) for item in value)
        for first, second in items:
            if isinstance(first, Undefined):
                first._fail_with_undefined_error()
            if isinstance(second, Undefined):
                second._fail_with_undefined_error()
        return value

    @staticmethod
    def kestra_nc(left: Callable[[], Any], right: Callable[[], Any]) -> Any:
        """`left ?? right`: right when left is null or undefined."""
        try:
            value = left()
        except _UNDEFINED:
            return right()
        if value is None or isinstance(value, Undefined):
            return right()
        return value

    @staticmethod
    def kestra_uc(left: Callable[[], Any], right: Callable[[], Any]) -> Any:
        """`left ??? right`: right only when left is undefined (null stays null)."""
        try:
            value = left()
        except _UNDEFINED:
            return right()
        if isinstance(value, Undefined):
            return right()
        return value

    @staticmethod
    def kestra_default(left: Callable[[], Any], default: Callable[[], Any] | None = None) -> Any:
        try:
            value = left()
        except _UNDEFINED:
            value = None
        if fn.is_empty(value):
            return None if default is None else default()
        return value

    @staticmethod
    def kestra_defined(left: Callable[[], Any]) -> bool:
        try:
            value = left()
        except _UNDEFINED:
            return False
        return fn.test_defined(value)


# -- context --------------------------------------------------------------------------------


class _Budget:
    """Time budget of one top-level render, shared with the renders it nests (`render()`).

    The clock is only read once loops have run a while: most templates have no loop, and
    without loops a template's running time is bounded by its size.
    """

    __slots__ = ("deadline", "depth", "next_check", "seconds", "ticks")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline: float | None = None
        self.ticks = 0
        self.next_check = 0
        self.depth = 0

    def tick(self, count: int) -> None:
        self.ticks += count
        if self.ticks < self.next_check:
            return
        self.next_check = self.ticks + 1024
        now = time.monotonic()
        if self.deadline is None:
            self.deadline = now + self.seconds
        elif now > self.deadline:
            raise fn.FunctionError(
                f"Rendering took too long (more than {self.seconds:g} s, "
                f"{self.ticks} loop iterations)"
            )


_NO_KEYS: Final[frozenset[str]] = frozenset()
_NO_BLOCKS: Final[dict[str, Any]] = {}


class _Context(Context):
    """Jinja's context, reading the caller's mapping lazily: one lookup per name, no copy.

    Lookup order: `{% set %}` variables, the caller's mapping, `globals` (from the renderer),
    and for the `__f_` names the translation gives to function calls, the functions.

    `Context.__init__` is skipped on purpose: it builds an evaluation context and copies
    blocks and globals on every render, none of which a Kestra expression uses. Per-renderer
    attributes (`environment`, `eval_ctx`, `functions`, `globals_`) are class attributes of a
    subclass made by each `Renderer`, so a render only sets four attributes.
    """

    environment: _Environment
    functions: Mapping[str, Callable[..., Any]]
    globals_: Mapping[str, Any] | None
    name = None
    blocks = _NO_BLOCKS
    globals_keys = _NO_KEYS  # type: ignore[assignment]

    def __init__(self, variables: Mapping[str, Any], budget: _Budget | None) -> None:
        self.variables = variables
        self.vars = {}
        self.exported_vars = set()
        self.budget = budget

    def resolve_or_missing(self, key: str) -> Any:
        local = self.vars
        if local:
            if key in local:
                return local[key]
            assigned = self._assigned()
            if key in assigned:
                return assigned[key]
        if key.startswith("__"):
            if key.startswith(FUNCTION_PREFIX):
                name = key[len(FUNCTION_PREFIX) :]
                function = self.functions.get(name)
                return function if function is not None else _MissingFunction(name)
            if key.startswith(VARIABLE_PREFIX):
                key = key[len(VARIABLE_PREFIX) :]
        try:
            return self.variables[key]
        except KeyError:
            pass
        if key == "globals" and self.globals_ is not None:
            return self.globals_
        return missing

    @property
    def parent(self) -> Mapping[str, Any]:  # type: ignore[override]
        """Jinja's `Context.parent`, only used by rarely called Context methods."""
        return ContextView(self)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.resolve_or_missing(name) is not missing

    def _assigned(self) -> dict[str, Any]:
        """The `{% set %}` variables of this render (see `pebble.NAMESPACE`)."""
        namespace = self.vars.get(NAMESPACE)
        if namespace is None:
            return {}
        return namespace._Namespace__attrs  # type: ignore[no-any-return]

    def keys(self) -> Iterator[str]:  # type: ignore[override]
        local = {k: v for k, v in self.vars.items() if k != NAMESPACE}
        local.update(self._assigned())
        seen = set(local)
        yield from local
        for key in self.variables:
            if key not in seen:
                seen.add(key)
                yield key
        if self.globals_ is not None and "globals" not in seen:
            yield "globals"

    def check_budget(self, count: int) -> None:
        """Called by `for` loops (see `functions.pb_iter`) as they iterate."""
        budget = self.budget
        if budget is None:
            budget = self.budget = _Budget(self.environment.time_budget)
        budget.tick(count)


class ContextView(Mapping[str, Any]):
    """Read-only mapping over a rendering context, given to `pass_context` functions."""

    __slots__ = ("_context",)

    def __init__(self, context: _Context) -> None:
        self._context = context

    def __getitem__(self, key: str) -> Any:
        if not isinstance(key, str) or key.startswith("__"):
            raise KeyError(key)  # internal names: functions, `{% set %}` holder
        value = self._context.resolve_or_missing(key)
        if value is missing:
            raise KeyError(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return self._context.keys()

    def __len__(self) -> int:
        return sum(1 for _ in self)


# -- compiled templates ---------------------------------------------------------------------


class _Compiled:
    """A cached compilation result: a render function, or the error to raise again.

    A template that is a single `{{ expr }}` is compiled once, as an assignment of the
    expression's value (`expression_func`): typed rendering returns that value, string
    rendering prints it between `prefix` and `suffix`. Other templates get `render_func`.
    """

    __slots__ = ("error", "expression_func", "prefix", "render_func", "streaming", "suffix")

    def __init__(
        self,
        *,
        render_func: Callable[[Context], Iterator[str]] | None = None,
        expression_func: Callable[[Context], Iterator[str]] | None = None,
        prefix: str = "",
        suffix: str = "",
        streaming: bool = False,
        error: str | None = None,
    ) -> None:
        self.render_func = render_func
        self.expression_func = expression_func
        self.prefix = prefix
        self.suffix = suffix
        self.streaming = streaming
        self.error = error


class Sandbox:
    """One renderer's Jinja environment, functions and context class: compiles templates
    (the renderer caches them) and runs them against a context."""

    def __init__(self, owner: Renderer, max_output: int, time_budget: float) -> None:
        self._owner = owner
        self._globals = owner._globals
        self._max_output = max_output
        self._time_budget = time_budget
        self.env = _Environment(max_output, time_budget)
        self._functions: dict[str, Callable[..., Any]] = {}
        for name, function in fn.FUNCTIONS.items():
            self.register_function(name, function)
        self._context_class: type[_Context] = type(
            "_RendererContext",
            (_Context,),
            {
                "environment": self.env,
                "eval_ctx": nodes.EvalContext(self.env, None),
                "functions": self._functions,
                "globals_": self._globals,
            },
        )
        self.register_function("render", self._fn_render, pass_context=True)
        self.register_function("renderOnce", self._fn_render_once, pass_context=True)
        self.register_function("currentEachOutput", _fn_current_each_output, pass_context=True)
        self.register_function("tasksWithState", _fn_tasks_with_state, pass_context=True)

    def register_function(
        self, name: str, fn: Callable[..., Any], *, pass_context: bool = False
    ) -> None:
        """See `Renderer.register_function`."""
        if pass_context:
            target = fn

            @_jinja_pass_context
            def with_context(context: Context, *args: Any, **kwargs: Any) -> Any:
                return target(ContextView(context), *args, **kwargs)

            with_context.__name__ = getattr(fn, "__name__", name)
            fn = with_context
        self.env.allow_callable(fn)
        self._functions[name] = fn

    def function_names(self) -> list[str]:
        return sorted(self._functions)

    # -- compilation -------------------------------------------------------------------------

    def compile(self, source: str) -> _Compiled:
        try:
            translation = translate(source)
        except PebbleSyntaxError as exc:
            return _Compiled(error=f"{exc.message} at line {exc.line}")
        except RecursionError:
            return _Compiled(error="Expression is nested too deeply")
        env = self.env
        try:
            if translation.expression is not None:
                assignment = f"{{% set {_RESULT} = {translation.expression} %}}"
                return _Compiled(
                    expression_func=env.from_string(assignment).root_render_func,
                    prefix=translation.prefix,
                    suffix=translation.suffix,
                )
            template = env.from_string(translation.jinja)
        except TemplateSyntaxError as exc:
            return _Compiled(error=f"{exc.message} at line {exc.lineno}")
        except RecursionError:
            return _Compiled(error="Expression is nested too deeply")
        return _Compiled(render_func=template.root_render_func, streaming=translation.loops)

    # -- execution ---------------------------------------------------------------------------

    def run(
        self,
        source: str,
        compiled: _Compiled,
        variables: Mapping[str, Any],
        mode: int,
        budget: _Budget | None = None,
    ) -> Any:
        if budget is not None:
            if budget.depth >= _MAX_DEPTH:
                raise ExpressionError(source, "Too many nested renders")
            budget.depth += 1
        context = self._context_class(variables, budget)
        try:
            if compiled.expression_func is not None:
                for _ in compiled.expression_func(context):
                    pass
                value = context.vars[_RESULT]
                if isinstance(value, Undefined):
                    value._fail_with_undefined_error()
                if mode == _TYPED:
                    return value
                text = compiled.prefix + output_string(value) + compiled.suffix
            elif compiled.streaming:
                return self._stream(compiled, context)
            else:
                text = "".join(compiled.render_func(context))  # type: ignore[misc]
            if len(text) > self._max_output:
                raise fn.FunctionError(self._too_large())
            return text
        except ExpressionError:
            raise
        except _UNDEFINED as exc:
            raise ExpressionError(source, _undefined_reason(exc)) from None
        except SecurityError as exc:
            raise ExpressionError(source, f"Security violation: {exc}") from None
        except fn.FunctionError as exc:
            raise ExpressionError(source, str(exc)) from None
        except RecursionError:
            raise ExpressionError(source, "Expression recursion is too deep") from None
        except Exception as exc:  # any failure of a template is the flow author's error
            raise ExpressionError(source, _describe(exc)) from None
        finally:
            if budget is not None:
                budget.depth -= 1

    def _stream(self, compiled: _Compiled, context: _Context) -> str:
        """Render a template with loops, stopping as soon as the output is too large."""
        parts: list[str] = []
        size = 0
        max_output = self._max_output
        for chunk in compiled.render_func(context):  # type: ignore[misc]
            size += len(chunk)
            if size > max_output:
                raise fn.FunctionError(self._too_large())
            parts.append(chunk)
            if not len(parts) & 0xFF:
                context.check_budget(0x100)
        return "".join(parts)

    def _too_large(self) -> str:
        return f"Rendered value is too large (more than {self._max_output} characters)"

    # -- functions that need the renderer ----------------------------------------------------

    def _fn_render(
        self, context: Mapping[str, Any], toRender: Any = None, recursive: Any = True
    ) -> Any:
        """`render(expr, recursive=true)`: render a value against the current variables."""
        if isinstance(toRender, Undefined):
            toRender._fail_with_undefined_error()
        if not isinstance(recursive, bool):
            raise fn.FunctionError(
                "The 'render' function expects an optional argument 'recursive' with type boolean."
            )
        if not isinstance(toRender, str):
            return self._owner.render_value(toRender, context) if toRender is not None else None
        budget = None
        if isinstance(context, ContextView):
            outer = context._context
            budget = outer.budget
            if budget is None:
                budget = outer.budget = _Budget(self._time_budget)
        result = self._render_nested(toRender, context, budget)
        if not recursive:
            return result
        for _ in range(_MAX_RECURSIVE_RENDERS):
            if not isinstance(result, str) or not is_template(result):
                return result
            rendered = self._render_nested(result, context, budget)
            if rendered == result:
                return result
            result = rendered
        raise fn.FunctionError("Too many rendering attempts")

    def _render_nested(
        self, source: str, context: Mapping[str, Any], budget: _Budget | None
    ) -> Any:
        """`render_typed` sharing the calling render's budget and nesting depth."""
        if not is_template(source):
            return source
        compiled = self._owner._compile(source)
        if compiled.error is not None:
            raise ExpressionError(source, compiled.error)
        return self.run(source, compiled, context, _TYPED, budget)

    def _fn_render_once(self, context: Mapping[str, Any], toRender: Any = None) -> Any:
        return self._fn_render(context, toRender, recursive=False)


def _fn_current_each_output(context: Mapping[str, Any], outputs: Any = None) -> Any:
    """`currentEachOutput(outputs.x)`: walk `outputs.x` by the parents' values (outermost
    first), then by the current task run's value."""
    if isinstance(outputs, Undefined):
        outputs._fail_with_undefined_error()
    if not isinstance(outputs, Mapping):
        raise fn.FunctionError(
            "The 'currentEachOutput' function expects an argument 'outputs' with type map."
        )
    parents = context.get("parents")
    if isinstance(parents, list | tuple):
        for parent in reversed(parents):
            taskrun = parent.get("taskrun") if isinstance(parent, Mapping) else None
            if isinstance(taskrun, Mapping):
                nested = outputs.get(taskrun.get("value"))
                if not isinstance(nested, Mapping):
                    raise fn.FunctionError("No execution outputs for the current task runs path")
                outputs = nested
    taskrun = context.get("taskrun")
    value = taskrun.get("value") if isinstance(taskrun, Mapping) else None
    return outputs.get(value)


def _fn_tasks_with_state(context: Mapping[str, Any], state: Any = "FAILED") -> list[Any]:
    """`tasksWithState('failed')`: the task runs in that state, read from `tasks`, as
    `{taskId, state}` (plus `value` for a run inside a loop), like Kestra's function."""
    # Keys in the order Java's HashMap prints them (state, value, taskId), so a rendered
    # list reads as Kestra's (RunContextTest#failedTasksVariable compares the JSON text).
    wanted = str(state).upper()
    tasks = context.get("tasks")
    out: list[dict[str, Any]] = []
    if not isinstance(tasks, Mapping):
        return out
    for task_id, details in tasks.items():
        if not isinstance(details, Mapping):
            continue
        for key, entry in details.items():
            if key == "state" and isinstance(entry, str):
                if entry.upper() == wanted:
                    out.append({"state": wanted, "taskId": task_id})
            elif isinstance(entry, Mapping) and str(entry.get("state", "")).upper() == wanted:
                out.append({"state": wanted, "value": key, "taskId": task_id})
    return out


def _describe(exc: Exception) -> str:
    message = str(exc)
    if isinstance(exc, ZeroDivisionError):
        return "/ by zero"
    if isinstance(exc, KeyError | IndexError | TypeError | ValueError) and message:
        return message
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__
