"""Issue 15 item 5: a one-shot `kestrad run` loads only what it uses. The HTTP client, the
API server and PostgreSQL's driver load when a task, a trigger or a database asks for
them, not with the command line or the task registry; rich loads only for a table on a
terminal or with a non-ASCII cell (a piped table is laid out with rich's cell widths, the
same text); difflib only to suggest a name for an unknown one;
croniter with the first schedule, `regex` with the first REGEXP search filter; Jinja2
with the first value that holds an expression; importlib.metadata only when a
distribution's entry points name the task plugins' group. Real subprocesses: sys.modules
of a fresh interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = [
    "httpx",
    "starlette",
    "uvicorn",
    "asyncpg",
    "rich",
    "croniter",
    "regex",
    "jinja2",
    "importlib.metadata",
    "difflib",
]
PROBE = """
import json, sys
{body}
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
"""


def _loaded(body: str, cwd: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body, heavy=HEAVY)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(cwd)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_command_line_loads_no_http_or_server_module(tmp_path: Path) -> None:
    assert _loaded("import kestrad.cli.main", tmp_path) == []


def test_a_whole_kestrad_run_of_a_log_flow_loads_none_of_them(tmp_path: Path) -> None:
    flow = tmp_path / "hello.yml"
    flow.write_text(
        "id: hello\nnamespace: tests.lazy\ntasks:\n"
        "  - id: hi\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    )
    body = (
        "from kestrad.cli.main import main\n"
        f"code = main(['run', {str(flow)!r}])\n"
        "assert code == 0, code\n"
        "from kestrad.tasks import registry\n"
        "assert registry.resolve('io.kestra.plugin.core.http.Request') is not None\n"
    )
    assert _loaded(body, tmp_path) == []


def test_a_message_with_an_expression_still_renders_it(tmp_path: Path) -> None:
    """Jinja2 is not lost either: the first value that holds an expression loads it."""
    flow = tmp_path / "hello.yml"
    flow.write_text(
        "id: hello\nnamespace: tests.lazy\ntasks:\n"
        "  - id: hi\n    type: io.kestra.plugin.core.log.Log\n"
        '    message: "flow {{ flow.id }} says {{ 6 * 7 }}"\n'
    )
    body = (
        "import contextlib, io\n"
        "from kestrad.cli.main import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"    code = main(['run', {str(flow)!r}])\n"
        "assert code == 0, code\n"
        "assert 'flow hello says 42' in out.getvalue(), out.getvalue()\n"
    )
    assert _loaded(body, tmp_path) == ["jinja2"]


def test_an_http_task_still_finds_httpx_when_it_runs(tmp_path: Path) -> None:
    """The lazy import is not a lost one: the Request task's client loads httpx."""
    body = (
        "from kestrad.tasks.http import Request\n"
        "client = Request(id='r', type='t', uri='http://x')._client({}, {})\n"
    )
    # httpx's own command-line module brings rich's console with it.
    assert "httpx" in _loaded(body, tmp_path)


def test_a_piped_table_is_the_text_rich_would_print() -> None:
    """The plain layout (no rich console) against rich's own rendering of the same table:
    wide CJK and emoji cells, combining accents, empty cells, no rows at all."""
    import io

    from kestrad.cli.tables import _print_plain, _print_rich

    cases = [
        (["task", "value", "state"], [["a", "-", "SUCCESS"], ["日本語xx", "v", "F"]]),
        (["a", "b"], []),
        (["x"], [["é"], ["e\u0301"]]),
        (["task", "value"], [["😀", "longer value here"], ["", " lead"]]),
    ]
    for headers, cells in cases:
        plain, rich = io.StringIO(), io.StringIO()
        _print_plain(headers, cells, plain)
        _print_rich(headers, cells, rich, tty=False)
        assert plain.getvalue() == rich.getvalue(), (headers, cells)


def test_a_cell_rich_must_render_still_goes_through_rich() -> None:
    """A multi-line cell is not plain padding: rich lays it out on several lines."""
    import io

    from kestrad.cli.tables import print_table

    out = io.StringIO()
    print_table(["task", "value"], [["t", "one\ntwo"]], out)
    assert out.getvalue() == "task  value\nt     one  \n      two  \n"


HELP_PROBE = """
import argparse, contextlib, io, json, sys
from kestrad.cli.main import main
from kestrad.cli.parsers import COMMAND_MODULES, build_parser

def commands(parser, prefix):
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from commands(child, [*prefix, name])

shown = {}
for argv in commands(build_parser(), []):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main([*argv, "--help"])
        except SystemExit as exc:
            assert exc.code == 0, (argv, exc.code)
    shown[" ".join(argv)] = out.getvalue()
groups = sorted(m for m in COMMAND_MODULES.values() if f"kestrad.cli.{m}" in sys.modules)
heavy = sorted(m for m in HEAVY_LIST if m in sys.modules)
print(json.dumps({"shown": shown, "groups": groups, "heavy": heavy}))
"""


def test_every_help_page_prints_without_importing_a_command_group(tmp_path: Path) -> None:
    """`kestrad --help` and each (sub)command's `--help` answer from the parser alone: no
    command module, no engine, no server is imported to print them."""
    done = subprocess.run(
        [sys.executable, "-c", HELP_PROBE.replace("HEAVY_LIST", repr(HEAVY))],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    shown = report["shown"]
    assert {"", "run", "validate", "serve", "executions", "flows", "kv"} <= set(shown)
    for argv, text in shown.items():
        assert text.startswith("usage: kestrad"), (argv, text[:200])
    assert report["groups"] == []
    assert report["heavy"] == []
