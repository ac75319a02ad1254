"""Load problems of flows-folder files in the store, on every backend: a folder's sync
replaces its whole set, readers see every folder's; hostile paths and texts are data."""

from __future__ import annotations

import anyio
import pytest

from kestrad.flows.problems import Problem
from kestrad.store.factory import open_store

pytestmark = pytest.mark.anyio

ROOT = "/srv/flows"
OTHER = "/srv/other-flows"


def _problem(path: str, message: str, line: int = 1) -> Problem:
    return Problem(file=path, line=line, column=3, path="tasks[0].type", message=message)


async def test_a_folder_replaces_its_whole_set_and_leaves_other_folders_alone(store) -> None:
    broken, gone = f"{ROOT}/broken.yml", f"{ROOT}/gone.yml"
    elsewhere = f"{OTHER}/x.yml"
    await store.replace_file_problems(
        ROOT, {broken: [_problem(broken, "one"), _problem(broken, "two", 7)], gone: []}
    )
    await store.replace_file_problems(OTHER, {elsewhere: [_problem(elsewhere, "other")]})
    assert await store.file_problems() == {
        broken: [_problem(broken, "one"), _problem(broken, "two", 7)],
        gone: [],
        elsewhere: [_problem(elsewhere, "other")],
    }

    await store.replace_file_problems(ROOT, {broken: [_problem(broken, "three")]})
    assert await store.file_problems() == {
        broken: [_problem(broken, "three")],
        elsewhere: [_problem(elsewhere, "other")],
    }

    await store.replace_file_problems(ROOT, {})
    assert await store.file_problems() == {elsewhere: [_problem(elsewhere, "other")]}


async def test_hostile_paths_and_texts_round_trip_as_data(store) -> None:
    odd = f'{ROOT}/it\'s "quoted"; DROP TABLE flows; --\n%_\\ üñí 流れ 🚀.yml'
    long_text = "x" * 300_000 + " <script>alert(1)</script> ' \" \\ \x00 \u2028 end"
    problems = {
        odd: [
            Problem(file=odd, line=1, column=1, path="", message=long_text),
            Problem(file=None, line=2, column=4, path="tasks[0].a\nb", message="\x00\x01\x7f"),
        ]
    }
    await store.replace_file_problems(ROOT, problems)
    assert await store.file_problems() == problems


async def test_what_a_text_column_cannot_hold_is_written_escaped(store) -> None:
    """A file name that is not UTF-8 reaches Python with lone surrogates, and NUL is no
    text PostgreSQL stores: both are escaped, the same on both stores, and the rest of
    the set is stored with them."""
    undecodable = f"{ROOT}/caf\udce9.yml"
    with_nul = f"{ROOT}/a\x00b.yml"
    plain = f"{ROOT}/plain.yml"
    await store.replace_file_problems(
        ROOT,
        {
            undecodable: [_problem(undecodable, "bad \udcff byte")],
            with_nul: [_problem(with_nul, "nul")],
            plain: [_problem(plain, "plain")],
        },
    )
    escaped = f"{ROOT}/caf\\udce9.yml"
    assert await store.file_problems() == {
        escaped: [_problem(escaped, "bad \\udcff byte")],
        f"{ROOT}/a\\x00b.yml": [_problem(with_nul, "nul")],
        plain: [_problem(plain, "plain")],
    }


async def test_concurrent_replacers_of_one_folder_leave_one_whole_set(database_url: str) -> None:
    """Two daemons syncing one folder (each its own store): their replaces interleave,
    none fails, and what stays is one writer's whole set, never a mix."""
    stores = [open_store(database_url), open_store(database_url)]
    for store in stores:
        await store.migrate()
    sets = [
        {f"{ROOT}/{n}-{i}.yml": [_problem(f"{ROOT}/{n}-{i}.yml", f"set {n}")] for i in range(5)}
        for n in range(12)
    ]
    try:

        async def replace(n: int) -> None:
            await stores[n % 2].replace_file_problems(ROOT, sets[n])

        async with anyio.create_task_group() as tg:
            for n in range(len(sets)):
                tg.start_soon(replace, n)
        assert await stores[0].file_problems() in sets
        assert await stores[1].file_problems() == await stores[0].file_problems()
    finally:
        for store in stores:
            await store.close()
