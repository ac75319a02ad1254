"""The renderer's contract: API, strict variables, lazy context, caching, limits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from kestrad.expr import ExpressionError, Renderer, is_template, sandbox
from kestrad.expr.errors import UndefinedValue


class StrictMapping(Mapping[str, Any]):
    """A read-only mapping that records the keys read and refuses to be copied or listed.

    The runtime passes such views (e.g. `outputs` over task runs): a template must only read
    the keys it names.
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data
        self.read: list[str] = []

    def __getitem__(self, key: str) -> Any:
        self.read.append(key)
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("the context must not be iterated (copied)")

    def __len__(self) -> int:
        raise AssertionError("the context must not be sized (copied)")

    def keys(self) -> Any:
        raise AssertionError("the context must not be listed")

    def items(self) -> Any:
        raise AssertionError("the context must not be copied")

    def values(self) -> Any:
        raise AssertionError("the context must not be copied")


@pytest.fixture
def renderer() -> Renderer:
    return Renderer(globals_={"string": "string", "int": 1, "nested": {"int": 2}})


def test_plain_strings_are_returned_as_is_without_jinja(renderer: Renderer) -> None:
    text = "no tags { here } %} #} }} {"
    assert renderer.render(text, {}) is text
    assert renderer.render_typed(text, {}) is text
    assert renderer._compile.cache_info().currsize == 0


def test_is_template() -> None:
    assert is_template("{{ x }}")
    assert is_template("{% if %}")
    assert is_template("{# c #}")
    assert not is_template("{ x }")
    assert not is_template("${x} %}")


def test_render_and_render_typed(renderer: Renderer) -> None:
    context = {"inputs": {"list": [1, 2], "n": 3, "none": None, "map": {"a": 1}}}
    assert renderer.render("{{ inputs.list }}", context) == "[1,2]"
    assert renderer.render_typed("{{ inputs.list }}", context) == [1, 2]
    assert renderer.render_typed("  {{ inputs.n }}\n", context) == 3
    assert renderer.render_typed("{{ inputs.none }}", context) is None
    assert renderer.render_typed("{{ inputs.map }}", context) is context["inputs"]["map"]
    assert renderer.render_typed("{{ 1 + 1 }}", context) == 2
    assert renderer.render_typed("{{ 'a' }}", context) == "a"
    assert renderer.render_typed("n={{ inputs.n }}", context) == "n=3"
    assert renderer.render_typed("{{ inputs.n }}{{ inputs.n }}", context) == "33"
    assert renderer.render_typed("{% if true %}{{ inputs.list }}{% endif %}", context) == "[1,2]"


def test_render_value_recurses_and_keeps_strings(renderer: Renderer) -> None:
    context = {"inputs": {"key": "k", "n": 3, "list": [1]}}
    value = {
        "{{ inputs.key }}": ["{{ inputs.n }}", 5, None, {"x": "{{ inputs.list }}"}],
        "flag": True,
    }
    assert renderer.render_value(value, context) == {
        "k": ["3", 5, None, {"x": "[1]"}],
        "flag": True,
    }
    assert renderer.render_value_typed(value, context) == {
        "k": [3, 5, None, {"x": [1]}],
        "flag": True,
    }
    assert renderer.render_value(("{{ inputs.n }}",), context) == ["3"]
    assert renderer.render_value(7, context) == 7


def test_undefined_variable_is_an_error_naming_the_expression(renderer: Renderer) -> None:
    with pytest.raises(ExpressionError) as info:
        renderer.render("{{ foo }}", {})
    assert str(info.value) == "Unable to find `foo` used in the expression `{{ foo }}`"
    assert info.value.expression == "{{ foo }}"
    assert info.value.reason == "Unable to find `foo`"

    with pytest.raises(ExpressionError) as info:
        renderer.render("{{inputs.invalid}}", {"inputs": {}})
    assert str(info.value) == "Unable to find `invalid` used in the expression `{{inputs.invalid}}`"

    with pytest.raises(ExpressionError, match="Unable to find `a`"):
        renderer.render_typed("{{ a.b.c }}", {})
    with pytest.raises(ExpressionError, match="Unable to find `x`"):
        renderer.render("{% if x %}y{% endif %}", {})
    with pytest.raises(ExpressionError, match="Unable to find"):
        renderer.render("{{ null.field }}", {})


@pytest.mark.parametrize(
    "template",
    [
        "{{ x == 1 }}",
        "{{ x + 1 }}",
        "{{ x ~ 'a' }}",
        "{{ x > 1 }}",
        "{{ x and true }}",
        "{{ not x }}",
        "{{ x contains 1 }}",
        "{{ x.y[0].z }}",
        "{% for i in x %}{% endfor %}",
        "{{ [1] contains x }}",
        "{{ 'a' in x }}",
    ],
)
def test_using_an_undefined_value_raises(renderer: Renderer, template: str) -> None:
    with pytest.raises(ExpressionError, match="Unable to find `x`"):
        renderer.render(template, {})


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ a.b.c ?? 'd' }}", "d"),
        ("{{ a.b.c ??? 'd' }}", "d"),
        ("{{ a.b.c is defined }}", "false"),
        ("{{ a.b.c is not defined }}", "true"),
        ("{{ a.b.c is null }}", "true"),
        ("{{ a.b.c is empty }}", "true"),
        ("{{ a.b.c | default('d') }}", "d"),
        ("{{ a['b-c'][0] ?? 'd' }}", "d"),
    ],
)
def test_escape_hatches_accept_undefined_chains(
    renderer: Renderer, template: str, expected: str
) -> None:
    assert renderer.render(template, {}) == expected


def test_coalescing_is_lazy(renderer: Renderer) -> None:
    calls: list[str] = []

    def side(name: str) -> str:
        calls.append(name)
        return name

    renderer.register_function("side", side)
    assert renderer.render("{{ 'left' ?? side('right') }}", {}) == "left"
    assert calls == []
    assert renderer.render("{{ missing ?? side('right') }}", {}) == "right"
    assert calls == ["right"]
    assert renderer.render("{{ side('once') ?? 'x' }}", {}) == "once"
    assert calls == ["right", "once"]
    assert renderer.render("{{ true ? 'a' : side('never') }}", {}) == "a"
    assert calls == ["right", "once"]


def test_context_is_read_lazily_and_never_copied(renderer: Renderer) -> None:
    outputs = StrictMapping(
        {"t1": {"value": "one"}, "t2": {"value": "two"}, "big": {"value": "x" * 10}}
    )
    context = StrictMapping({"outputs": outputs, "inputs": {"name": "Ada"}, "unused": 1})
    assert renderer.render("{{ outputs.t1.value }}-{{ inputs.name }}", context) == "one-Ada"
    assert renderer.render_typed("{{ outputs.t2 }}", context) == {"value": "two"}
    assert renderer.render("{{ outputs.missing ?? 'none' }}", context) == "none"
    assert renderer.render("{{ outputs['t1'].value | upper }}", context) == "ONE"
    assert sorted(set(outputs.read)) == ["missing", "t1", "t2"]
    assert "unused" not in context.read
    assert "big" not in outputs.read


def test_globals_come_from_the_constructor_unless_in_context(renderer: Renderer) -> None:
    assert renderer.render("{{ globals.string }} {{ globals.nested.int + 1 }}", {}) == "string 3"
    assert renderer.render("{{ globals.string }}", {"globals": {"string": "mine"}}) == "mine"
    with pytest.raises(ExpressionError, match="Unable to find `globals`"):
        Renderer().render("{{ globals.string }}", {})


def test_functions_and_variables_have_separate_namespaces(renderer: Renderer) -> None:
    # as in Pebble: `now()` is the function even if a variable is called `now`
    assert renderer.render("{{ now }} {{ now('yyyy') | length }}", {"now": "var"}) == "var 4"
    with pytest.raises(ExpressionError, match="Unable to find `range`"):
        renderer.render("{{ range }}", {})


def test_register_function(renderer: Renderer) -> None:
    renderer.register_function(
        "kv", lambda key, namespace=None: {"k": f"{namespace}:{key}"}.get("k")
    )
    assert renderer.render("{{ kv('a', namespace='ns') }}", {}) == "ns:a"

    seen: dict[str, Any] = {}

    def read(context: Mapping[str, Any], path: str) -> str:
        seen["flow"] = context["flow"]["id"]
        seen["has_set"] = context.get("local")
        seen["missing"] = context.get("nope", "default")
        return f"content of {path}"

    renderer.register_function("read", read, pass_context=True)
    out = renderer.render("{% set local = 1 %}{{ read('x.txt') }}", {"flow": {"id": "f"}})
    assert out == "content of x.txt"
    assert seen == {"flow": "f", "has_set": 1, "missing": "default"}

    # a function registered later is visible to templates compiled before
    template = "{{ later() }}"
    with pytest.raises(ExpressionError, match=r"Function or Macro \[later\] does not exist"):
        renderer.render(template, {})
    renderer.register_function("later", lambda: "now here")
    assert renderer.render(template, {}) == "now here"


def test_jinja_loads_with_the_first_expression_and_keeps_earlier_functions() -> None:
    """Plain values never build the sandbox; functions registered before it is built are
    there once it is, in their order (a later registration of a name wins)."""
    renderer = Renderer()
    renderer.register_function("who", lambda: "first")
    renderer.register_function("who", lambda: "second")
    renderer.register_function("ns", lambda context: context["flow"], pass_context=True)
    assert renderer.render_value({"a": ["plain", 1]}, {}) == {"a": ["plain", 1]}
    assert renderer.syntax_error("no expression") is None
    assert renderer._sandbox is None
    assert renderer.render("{{ who() }} {{ ns() }}", {"flow": "f"}) == "second f"
    assert renderer._sandbox is not None
    assert {"who", "ns", "render", "now"} <= set(renderer.function_names())


def test_a_function_s_undefined_value_is_recovered_like_an_unknown_variable(
    renderer: Renderer,
) -> None:
    """`UndefinedValue` (what `kv()` raises for a missing key) behaves as an undefined
    variable: `??`, `???`, `default` and `is defined` recover, a bare use fails with it."""

    def missing(key: str) -> Any:
        raise UndefinedValue(f"The key '{key}' does not exist")

    renderer.register_function("missing", missing)
    assert renderer.render("{{ missing('k') ?? 'fallback' }}", {}) == "fallback"
    assert renderer.render("{{ missing('k').field ?? 'deep' }}", {}) == "deep"
    assert renderer.render("{{ missing('k') ??? 'unset' }}", {}) == "unset"
    assert renderer.render("{{ missing('k') | default('d') }}", {}) == "d"
    assert renderer.render_typed("{{ missing('k') is defined }}", {}) is False
    with pytest.raises(ExpressionError, match="The key 'k' does not exist"):
        renderer.render("{{ missing('k') }}", {})


def test_context_view_mapping(renderer: Renderer) -> None:
    captured: dict[str, Any] = {}

    def grab(context: Mapping[str, Any]) -> str:
        captured["keys"] = sorted(context)
        captured["len"] = len(context)
        captured["fn_hidden"] = "__f_now" in context
        return ""

    renderer.register_function("grab", grab, pass_context=True)
    renderer.render("{% set s = 1 %}{{ grab() }}", {"a": 1, "b": 2})
    assert captured == {"keys": ["a", "b", "globals", "s"], "len": 4, "fn_hidden": False}


def test_compiled_templates_are_cached_by_source() -> None:
    renderer = Renderer(cache_size=2)
    renderer.render("{{ 1 }}", {})
    first = renderer._compile("{{ 1 }}")
    renderer.render("{{ 1 }}", {})
    assert renderer._compile("{{ 1 }}") is first
    info = renderer._compile.cache_info()
    assert info.hits >= 2
    assert info.currsize == 1
    renderer.render("{{ 2 }}", {})
    renderer.render("{{ 3 }}", {})
    assert renderer._compile.cache_info().currsize == 2  # bounded LRU
    assert renderer._compile("{{ 1 }}") is not first


def test_syntax_errors_are_cached_and_raised_every_time() -> None:
    renderer = Renderer()
    for _ in range(2):
        with pytest.raises(ExpressionError, match="Unexpected end of expression"):
            renderer.render("{{ 1 + }}", {})
    assert renderer._compile.cache_info().currsize == 1


def test_output_size_is_bounded() -> None:
    renderer = Renderer(max_output=100)
    assert renderer.render("{{ v }}", {"v": "x" * 100}) == "x" * 100
    with pytest.raises(ExpressionError, match="too large"):
        renderer.render("{{ v }}", {"v": "x" * 101})
    with pytest.raises(ExpressionError, match="too large"):
        renderer.render("{% for i in 1..1000 %}{{ i }}{% endfor %}", {})
    with pytest.raises(ExpressionError, match="too large"):
        renderer.render("{{ v ~ v }}", {"v": "x" * 60})
    with pytest.raises(ExpressionError, match="too large"):
        renderer.render("{{ v + v }}", {"v": "x" * 60})


def test_exponential_growth_is_stopped_before_memory_blows_up() -> None:
    renderer = Renderer(max_output=1_000_000)
    template = (
        "{% macro grow(s, n) %}{{ n > 0 ? grow(s ~ s, n - 1) : s | length }}{% endmacro %}"
        "{{ grow('x', 64) }}"
    )
    with pytest.raises(ExpressionError, match="too large"):
        renderer.render(template, {})


def test_render_time_is_bounded() -> None:
    renderer = Renderer(time_budget=0.2)
    started = time.monotonic()
    with pytest.raises(ExpressionError, match="took too long"):
        renderer.render(
            "{% for i in 1..100000 %}{% for j in 1..100000 %}{% endfor %}{% endfor %}", {}
        )
    assert time.monotonic() - started < 5
    # many small nested loops are counted too
    with pytest.raises(ExpressionError, match="took too long"):
        renderer.render(
            "{% for a in 1..5000 %}{% for b in 1..1000 %}{% for c in [1, 2] %}{% endfor %}{% endfor %}{% endfor %}",
            {},
        )
    # the budget is per render, not per renderer
    assert renderer.render("{% for i in 1..10 %}{{ i }}{% endfor %}", {}) == "12345678910"


def test_errors_inside_functions_are_expression_errors(renderer: Renderer) -> None:
    def boom() -> None:
        raise RuntimeError("kaput")

    renderer.register_function("boom", boom)
    with pytest.raises(ExpressionError, match="RuntimeError: kaput") as info:
        renderer.render("{{ boom() }}", {})
    assert "{{ boom() }}" in str(info.value)


def test_long_expressions_are_truncated_in_messages(renderer: Renderer) -> None:
    template = "{{ missing }}" + "x" * 5000
    with pytest.raises(ExpressionError) as info:
        renderer.render(template, {})
    assert len(str(info.value)) < 2200
    assert info.value.expression == template


def test_renderer_is_thread_safe(renderer: Renderer) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                context = {"inputs": {"n": n, "i": i}}
                out = renderer.render(
                    "{{ inputs.n }}-{% for x in 1..3 %}{{ x }}{% endfor %}-{{ inputs.i }}", context
                )
                assert out == f"{n}-123-{i}"
                assert renderer.render_typed("{{ inputs.n * 2 }}", context) == n * 2
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_undefined_object_is_strict() -> None:
    undefined = sandbox.KestraUndefined(name="x")
    assert undefined.a.b["c"] is undefined
    for action in (
        str,
        bool,
        len,
        iter,
        hash,
        lambda u: u == 1,
        lambda u: 1 in u,
        lambda u: u + 1,
        lambda u: u(),
    ):
        with pytest.raises(Exception, match="Unable to find `x`"):
            action(undefined)


def test_expression_error_pickles() -> None:
    import pickle

    error = ExpressionError("{{ x }}", "Unable to find `x`")
    clone = pickle.loads(pickle.dumps(error))
    assert str(clone) == str(error)
    assert (clone.expression, clone.reason) == (error.expression, error.reason)


def test_hot_path_is_cached_and_fast() -> None:
    """A generous bound (about 50x the measured cost): recompiling each time would break it."""
    renderer = Renderer()
    context = {"inputs": {"name": "Ada"}, "outputs": {"t1": {"value": "x"}}}
    started = time.perf_counter()
    for _ in range(5000):
        renderer.render("Hello {{ inputs.name }}", context)
        renderer.render_typed("{{ outputs.t1.value }}", context)
        renderer.render("plain text", context)
    assert time.perf_counter() - started < 2.0
    assert renderer._compile.cache_info().misses == 2


@pytest.mark.parametrize(
    "template", ["{{ [x] }}", "{{ {'a': [1, x]} }}", "{{ range(x, 2) }}", "{{ now(x) }}"]
)
def test_typed_values_never_hold_undefined(renderer: Renderer, template: str) -> None:
    # Pebble evaluates literals and arguments strictly: no undefined value may leak out
    with pytest.raises(ExpressionError, match="Unable to find `x`"):
        renderer.render_typed(template, {})
    custom: list[Any] = []
    renderer.register_function("spy", lambda *args: custom.append(args))
    with pytest.raises(ExpressionError, match="Unable to find `x`"):
        renderer.render("{{ spy(1, x) }}", {})
    assert custom == []
