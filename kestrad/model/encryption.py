"""AES-GCM encryption of secret values, byte-compatible with Kestra's EncryptionService.

Kestra encrypts SECRET inputs and outputs with AES/GCM/NoPadding, a base64 key, a random
12-byte IV and a 128-bit tag, and stores `base64(iv || ciphertext || tag)`. Values
encrypted by Kestra must decrypt here and the other way round. The standard library has no
AES, and secrets are short, so a small pure-Python implementation is enough.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
from functools import lru_cache

IV_LENGTH = 12
TAG_LENGTH = 16


class EncryptionError(ValueError):
    """A bad key, or a ciphertext that is corrupt or was encrypted with another key."""


def encrypt(key: str, plaintext: str) -> str:
    """`base64(iv || ciphertext || tag)` of `plaintext` under the base64 `key`."""
    aes = _cipher(key)
    iv = os.urandom(IV_LENGTH)
    data = plaintext.encode()
    ciphertext, tag = _gcm(aes, iv, data, decrypt=False)
    return base64.b64encode(iv + ciphertext + tag).decode()


def decrypt(key: str, token: str) -> str:
    """Inverse of `encrypt`; raises EncryptionError when the tag does not match."""
    aes = _cipher(key)
    try:
        raw = base64.b64decode(token, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EncryptionError("encrypted value is not valid base64") from exc
    if len(raw) < IV_LENGTH + TAG_LENGTH:
        raise EncryptionError("encrypted value is too short")
    iv, body, tag = raw[:IV_LENGTH], raw[IV_LENGTH:-TAG_LENGTH], raw[-TAG_LENGTH:]
    plaintext, expected = _gcm(aes, iv, body, decrypt=True)
    if not hmac.compare_digest(tag, expected):
        raise EncryptionError("encrypted value does not match the key (authentication failed)")
    return plaintext.decode()


@lru_cache(maxsize=8)
def _cipher(key: str) -> _AES:
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EncryptionError("the encryption key must be base64") from exc
    if len(raw) not in (16, 24, 32):
        raise EncryptionError("the encryption key must decode to 16, 24 or 32 bytes")
    return _AES(raw)


# -- GCM (NIST SP 800-38D) with a 96-bit IV and no associated data ----------------------------

_R = 0xE1 << 120


def _gf_mult(x: int, y: int) -> int:
    z = 0
    v = y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _R if v & 1 else v >> 1
    return z


def _gcm(aes: _AES, iv: bytes, data: bytes, *, decrypt: bool) -> tuple[bytes, bytes]:
    """(output, tag): encrypts or decrypts `data`; the tag is over the ciphertext."""
    h = int.from_bytes(aes.encrypt_block(bytes(16)), "big")
    j0 = iv + b"\x00\x00\x00\x01"
    out = bytearray()
    counter = 2
    for offset in range(0, len(data), 16):
        block = data[offset : offset + 16]
        stream = aes.encrypt_block(iv + counter.to_bytes(4, "big"))
        out.extend(a ^ b for a, b in zip(block, stream, strict=False))
        counter = (counter + 1) & 0xFFFFFFFF
    ciphertext = data if decrypt else bytes(out)
    tag_input = 0
    for offset in range(0, len(ciphertext), 16):
        block = ciphertext[offset : offset + 16].ljust(16, b"\x00")
        tag_input = _gf_mult(tag_input ^ int.from_bytes(block, "big"), h)
    lengths = (0).to_bytes(8, "big") + (len(ciphertext) * 8).to_bytes(8, "big")
    tag_input = _gf_mult(tag_input ^ int.from_bytes(lengths, "big"), h)
    mask = int.from_bytes(aes.encrypt_block(j0), "big")
    return bytes(out), (tag_input ^ mask).to_bytes(16, "big")


# -- AES block cipher (FIPS-197) ------------------------------------------------------------


def _xtime(a: int) -> int:
    a <<= 1
    return (a ^ 0x1B) & 0xFF if a & 0x100 else a


def _sbox() -> list[int]:
    box = [0] * 256
    p = q = 1
    while True:
        p = p ^ _xtime(p)  # p * 3
        q ^= q << 1
        q ^= q << 2
        q ^= q << 4
        q &= 0xFF
        if q & 0x80:
            q ^= 0x09
        rot = q ^ ((q << 1) | (q >> 7)) ^ ((q << 2) | (q >> 6)) ^ ((q << 3) | (q >> 5))
        rot ^= (q << 4) | (q >> 4)
        box[p] = (rot ^ 0x63) & 0xFF
        if p == 1:
            break
    box[0] = 0x63
    return box


_SBOX = _sbox()


class _AES:
    """AES encryption of single 16-byte blocks (all GCM needs)."""

    def __init__(self, key: bytes) -> None:
        nk = len(key) // 4
        self.rounds = nk + 6
        words = [list(key[i : i + 4]) for i in range(0, len(key), 4)]
        rcon = 1
        for i in range(nk, 4 * (self.rounds + 1)):
            word = list(words[i - 1])
            if i % nk == 0:
                word = [_SBOX[b] for b in word[1:] + word[:1]]
                word[0] ^= rcon
                rcon = _xtime(rcon)
            elif nk > 6 and i % nk == 4:
                word = [_SBOX[b] for b in word]
            words.append([a ^ b for a, b in zip(words[i - nk], word, strict=True)])
        self.round_keys = [
            [b for word in words[r * 4 : r * 4 + 4] for b in word] for r in range(self.rounds + 1)
        ]

    def encrypt_block(self, block: bytes) -> bytes:
        state = [a ^ b for a, b in zip(block, self.round_keys[0], strict=True)]
        for rnd in range(1, self.rounds + 1):
            state = [_SBOX[b] for b in state]
            # ShiftRows: byte (row r, column c) sits at index 4c + r.
            state = [state[(i + 4 * (i % 4)) % 16] for i in range(16)]
            if rnd != self.rounds:
                mixed: list[int] = []
                for c in range(4):
                    a0, a1, a2, a3 = state[4 * c : 4 * c + 4]
                    total = a0 ^ a1 ^ a2 ^ a3
                    mixed += [
                        a0 ^ total ^ _xtime(a0 ^ a1),
                        a1 ^ total ^ _xtime(a1 ^ a2),
                        a2 ^ total ^ _xtime(a2 ^ a3),
                        a3 ^ total ^ _xtime(a3 ^ a0),
                    ]
                state = mixed
            state = [a ^ b for a, b in zip(state, self.round_keys[rnd], strict=True)]
        return bytes(state)
