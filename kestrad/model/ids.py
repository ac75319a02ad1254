"""Identifiers: Kestra's FriendlyId (a random UUID written in base62, about 22 characters)."""

from __future__ import annotations

import os

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id() -> str:
    """A fresh 128-bit random id in base62, as Kestra's execution and task-run ids."""
    number = int.from_bytes(os.urandom(16), "big")
    chars: list[str] = []
    while number:
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars)) or "0"
