"""Known Jinja2 sandbox escapes must fail, never execute.

Each payload is tried twice: as a flow author would write it (through the Pebble translation)
and as raw Jinja on the renderer's environment, so that the sandbox itself is exercised even
where the translation already refuses the syntax.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

from kestrad.expr import ExpressionError, Renderer
from kestrad.expr.functions import FunctionError
from kestrad.expr.jq_sandbox import JqError, JqSandbox


class Request:
    """Stands for an object with methods and module globals (Flask's `request` style)."""

    def application(self) -> str:  # pragma: no cover - must never run
        raise AssertionError("executed")

    secret = "hidden"


def _never_called(*args: Any) -> None:  # pragma: no cover - must never run
    raise AssertionError("executed")


def context() -> dict[str, Any]:
    return {
        "s": "abc",
        "fmt": "{0.__class__.__init__.__globals__}",
        "fmt_method": "{0.__class__}".format,
        "fmt_map": "{a.__class__}".format_map,
        "fn": _never_called,
        "request": Request(),
        "items": [{"name": "x"}],
        "d": {"a": 1},
        "l": [1, 2],
    }


renderer = Renderer()

PAYLOADS = [
    # CVE-2016-10745: str.format reaching attributes
    "{{ '{0.__class__}'.format(s) }}",
    "{{ fmt.format(s) }}",
    "{{ s.format }}",
    # CVE-2019-10906: str.format_map
    "{{ '{a.__class__}'.format_map({'a': s}) }}",
    "{{ s.format_map }}",
    # CVE-2024-56326: indirect reference to a format method
    "{% set f = fmt.format %}{{ f(s) }}",
    "{{ fmt_method(s) }}",
    "{{ fmt_map({'a': s}) }}",
    "{{ items | map(attribute='name') | join }}",
    "{{ [fmt] | map('format', s) | join }}",
    # CVE-2025-27516: the attr filter reaching format
    "{{ fmt | attr('format') }}",
    "{{ (fmt | attr('format'))(s) }}",
    # globals of Jinja's default namespace
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ range.__init__ }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    # class hierarchy walks
    "{{ ().__class__.__base__.__subclasses__() }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ s.__class__ }}",
    "{{ s['__class__'] }}",
    "{{ d.__class__.__init__ }}",
    "{{ l.__class__ }}",
    # request.application style payloads
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "{{ request.application.__self__ }}",
    "{{ request.secret }}",
    "{{ fn.__globals__ }}",
    "{{ fn.__code__ }}",
    "{{ fn() }}",
    # mutation of data
    "{{ d.update({'a': 2}) }}",
    "{{ l.append(3) }}",
    "{{ d.pop('a') }}",
    # config / helpers that do not exist in Kestra
    "{{ config }}",
    "{{ get_flashed_messages.__globals__ }}",
    "{{ url_for.__globals__ }}",
    # printf-style formatting
    "{{ '%s' % s }}",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_through_the_pebble_translation_fails(payload: str) -> None:
    data = context()
    with pytest.raises(ExpressionError):
        renderer.render(payload, data)
    assert data["d"] == {"a": 1} and data["l"] == [1, 2]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_as_raw_jinja_fails_in_the_sandbox(payload: str) -> None:
    data = context()
    environment = renderer._jinja().env
    try:
        template = environment.from_string(payload)
    except TemplateSyntaxError:
        return  # e.g. `attr`/`map` filters are not even available
    try:
        result = template.render(data)
    except (SecurityError, UndefinedError, FunctionError):
        pass  # refused (a payload that ran would raise AssertionError("executed") instead)
    else:
        pytest.fail(f"rendered: {result!r}")
    assert data["d"] == {"a": 1} and data["l"] == [1, 2]


def test_sandbox_still_blocks_format_methods_handed_over_as_functions() -> None:
    # even a format method registered as a function goes through the sandbox's call check
    local = Renderer()
    local.register_function("leak", "{0.__class__.__mro__}".format)
    with pytest.raises(ExpressionError, match="Security violation"):
        local.render("{{ leak('x') }}", {})


def test_jq_cannot_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """jq runs in a worker with an empty environment, no HOME and an empty folder: every
    builtin that reads outside its input sees nothing, interpolations included."""
    monkeypatch.setenv("SECRET_DB", "c2VjcmV0")
    secrets = {"c2VjcmV0", os.environ["PATH"], os.environ.get("HOME", "/root")}
    seen = {
        "env": "[{}]",
        "$ENV": "[{}]",
        "env.SECRET_DB": "[null]",
        "$ENV | keys": "[[]]",
        '"\\(env|keys)"': '["[]"]',
        '"\\($ENV.PATH)"': '["null"]',
        '"\\($ENV)"': '["{}"]',
        "[inputs]": "[[]]",
        "input_filename": "[null]",
        'get_search_list | map(select(startswith("/"))) | length > 0 | not': "[true]",
        "[., debug, stderr] | length": "[3]",
    }
    for program, expected in seen.items():
        rendered = renderer.render("{{ {} | jq(p) }}", {"p": program})
        assert rendered == expected, program
        assert not any(secret in rendered for secret in secrets), program
    # modules would be read from the file system: none can be found
    for program in ('import "a" as a; .', 'include "a"; .', 'import "/etc/passwd" as $p; .'):
        with pytest.raises(ExpressionError, match="Invalid jq expression"):
            renderer.render("{{ {} | jq(p) }}", {"p": program})
    # a field that happens to be called env is fine
    assert renderer.render("{{ {'env': 'prod'} | jq('.env') | first }}", {}) == "prod"
    assert renderer.render("{{ {'a': 'env'} | jq('.a == \"env\"') | first }}", {}) == "true"


def test_a_runaway_jq_program_fails_its_render_and_not_the_process() -> None:
    """`[limit(100000000; repeat(1))]` used to block the event loop for minutes, then abort
    the process: now it fails within the time budget and the next jq call works."""
    for program in ("[limit(100000000; repeat(1))]", "def f: f; f", "[range(1e9)] | length"):
        started = time.monotonic()
        with pytest.raises(ExpressionError, match="jq stopped"):
            renderer.render("{{ 1 | jq(p) }}", {"p": program})
        assert time.monotonic() - started < 30
    assert renderer.render("{{ [1, 2] | jq('map(. * 2)') | first }}", {}) == "[2,4]"


def test_a_jq_program_that_eats_memory_is_stopped_by_the_cap() -> None:
    sandbox = JqSandbox(timeout=30.0, memory_bytes=256 * 1024 * 1024)
    try:
        started = time.monotonic()
        with pytest.raises(JqError):
            sandbox.run("[range(1e8) | tostring * 100] | length", "null")
        assert time.monotonic() - started < 30  # the cap, not the timeout, stopped it
        assert sandbox.run(".a", '{"a": 1}') == [1]
    finally:
        sandbox.close()


def test_no_builtin_or_os_access_through_functions() -> None:
    for name in ("__import__", "open", "eval", "exec", "getattr", "globals", "dict", "lipsum"):
        with pytest.raises(ExpressionError, match="does not exist"):
            renderer.render("{{ " + name + "('x') }}", {})


def test_templates_cannot_touch_the_process_environment() -> None:
    before = dict(os.environ)
    with pytest.raises(ExpressionError):
        renderer.render("{{ envs }}", {})
    assert dict(os.environ) == before


@pytest.mark.parametrize(
    "template",
    [
        "{{ 'x' * 1000000000 }}",
        "{{ range(1, 100000000) }}",
        "{{ 'a\nb' | indent(1000000000) }}",
        "{{ 'a\nb' | nindent(100000, 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx') }}",
        "{{ range(1, 1000000) | join('xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx') }}",
        "{% macro grow(s, n) %}{{ n > 0 ? grow(s ~ s, n - 1) : s }}{% endmacro %}{{ grow('x', 80) }}",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(1) }}",
    ],
)
def test_resource_exhaustion_is_refused(template: str) -> None:
    with pytest.raises(ExpressionError):
        Renderer(time_budget=2.0).render(template, {})


def test_the_jq_worker_dies_with_its_process_even_mid_program(tmp_path: Path) -> None:
    """A daemon killed with SIGKILL while jq spins must not leave the worker spinning."""
    script = tmp_path / "host.py"
    script.write_text(
        "import sys, threading, time\n"
        "from kestrad.expr.jq_sandbox import JqSandbox\n"
        "box = JqSandbox(timeout=600)\n"
        "threading.Thread(target=box.run, args=('def f: f; f', 'null'), daemon=True).start()\n"
        "while box._process is None: time.sleep(0.01)\n"
        "print(box._process.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    host = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        assert host.stdout is not None
        worker = int(host.stdout.readline())
        os.kill(worker, 0)  # running
        host.send_signal(signal.SIGKILL)
        host.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _dead(worker):
                return
            time.sleep(0.05)
        pytest.fail("the jq worker outlived its process")
    finally:
        host.kill()


def _dead(pid: int) -> bool:
    """Gone, or a zombie nobody reaped (an init that does not reap orphans)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")
