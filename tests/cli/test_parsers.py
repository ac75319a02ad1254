"""The command line built for one command (`build_parser(argv)`, what `main` does) answers
exactly as the whole one: the same parse, the same help pages, the same errors."""

from __future__ import annotations

import argparse
import contextlib
import io
from collections.abc import Iterator

import pytest

from kestrad.cli.parsers import build_parser


def _paths(parser: argparse.ArgumentParser, prefix: list[str]) -> Iterator[list[str]]:
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _paths(child, [*prefix, name])


def _answer(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[object, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            result: object = vars(parser.parse_args(argv))
        except SystemExit as exc:
            result = ("exit", exc.code)
    return result, out.getvalue(), err.getvalue()


def test_every_help_page_is_the_same() -> None:
    paths = list(_paths(build_parser(), []))
    assert len(paths) > 30
    for path in paths:
        argv = [*path, "--help"]
        assert _answer(build_parser(argv), argv) == _answer(build_parser(), argv), path


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "flow.yml", "-i", "a=1", "-i", "b=@f", "--label", "k=v", "--timeout", "2"],
        ["run", "flow.yml", "extra"],
        ["run"],
        ["run", "--timeout", "soon", "f.yml"],
        ["validate", "a.yml", "b"],
        ["serve", "--roles", "worker"],
        ["config", "show", "--reveal"],
        ["logs", "-f", "--level", "WARN"],
        ["executions", "list", "--limit", "3", "--count"],
        ["executions", "approve", "e1", "-i", "x=1", "--comment", "ok"],
        ["executions"],
        ["flows", "get", "ns/f"],
        ["triggers", "backfill", "ns/f", "t", "--pause", "--resume"],
        ["kv", "set", "ns", "k", "v", "--type", "NUMBER"],
        ["kv", "set", "ns", "k", "v", "--type", "nope"],
        ["plugins", "list", "--json"],
        ["instances", "list"],
        ["nonsense"],
        ["--version"],
        [],
        ["--help"],
    ],
)
def test_a_parse_is_the_same(argv: list[str]) -> None:
    assert _answer(build_parser(argv), argv) == _answer(build_parser(), argv)


def test_only_the_named_command_gets_its_arguments() -> None:
    parser = build_parser(["run", "flow.yml"])
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert len(commands.choices["run"]._actions) > 1
    assert [a.dest for a in commands.choices["executions"]._actions] == ["help"]
