"""A YAML text holding several flows, `---`-separated, split into its documents.

`kestrad validate` and the API's validate route check each document of such a text as a
flow of its own (Kestra's `POST /flows/validate` does the same); a problem's line is then
counted from the top of the whole text, not of its document.
"""

from __future__ import annotations

import re

_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)


def split_documents(source: str) -> list[tuple[int, str]]:
    """(line offset, text) of each `---`-separated document that is not blank; a text
    without separators is one document at offset 0."""
    out: list[tuple[int, str]] = []
    start = 0
    for match in [*_SEPARATOR.finditer(source), None]:
        end = match.start() if match is not None else len(source)
        text = source[start:end]
        if text.strip():
            out.append((source.count("\n", 0, start), text))
        if match is not None:
            start = match.end()
    return out or [(0, source)]
