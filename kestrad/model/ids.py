"""Identifiers: 128 random bits written in 22 alphanumeric characters, like Kestra's
FriendlyId (a base62 UUID). Ids are made for every execution and task run, so this is a
hot path: URL-safe base64 is done in C, and its two symbols are mapped to letters."""

from __future__ import annotations

import base64
import os

_ALNUM = bytes.maketrans(b"-_", b"xZ")


def new_id() -> str:
    """A fresh random id of 22 characters from [0-9A-Za-z]."""
    return base64.urlsafe_b64encode(os.urandom(16))[:22].translate(_ALNUM).decode()
