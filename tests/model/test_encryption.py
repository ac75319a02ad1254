"""AES-GCM secrets, checked against the NIST vectors and Kestra's token layout."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kestrad.model.encryption import (
    _AES,
    IV_LENGTH,
    TAG_LENGTH,
    EncryptionError,
    _gcm,
    decrypt,
    encrypt,
)

KEY = base64.b64encode(bytes(range(32))).decode()


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
        ("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
        (
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "8ea2b7ca516745bfeafc49904b496089",
        ),
    ],
)
def test_aes_fips_197_vectors(key: str, expected: str) -> None:
    block = bytes.fromhex("00112233445566778899aabbccddeeff")
    assert _AES(bytes.fromhex(key)).encrypt_block(block).hex() == expected


def test_gcm_reference_vector() -> None:
    key = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
    iv = bytes.fromhex("cafebabefacedbaddecaf888")
    plain = bytes.fromhex(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"
    )
    cipher, tag = _gcm(_AES(key), iv, plain, decrypt=False)
    assert cipher.hex() == (
        "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
        "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
    )
    assert tag.hex() == "4d5c2af327cd64a62cf35abd2ba6fab4"


def test_token_layout_is_iv_ciphertext_tag() -> None:
    token = base64.b64decode(encrypt(KEY, "abc"))
    assert len(token) == IV_LENGTH + 3 + TAG_LENGTH


def test_wrong_key_or_tampering_is_detected() -> None:
    token = encrypt(KEY, "secret")
    other = base64.b64encode(bytes(32)).decode()
    with pytest.raises(EncryptionError):
        decrypt(other, token)
    raw = bytearray(base64.b64decode(token))
    raw[IV_LENGTH] ^= 1
    with pytest.raises(EncryptionError):
        decrypt(KEY, base64.b64encode(bytes(raw)).decode())
    with pytest.raises(EncryptionError):
        decrypt(KEY, "not base64!")


def test_bad_keys() -> None:
    with pytest.raises(EncryptionError):
        encrypt("***", "x")
    with pytest.raises(EncryptionError):
        encrypt(base64.b64encode(b"short").decode(), "x")


@given(st.text(max_size=100))
def test_round_trip(text: str) -> None:
    assert decrypt(KEY, encrypt(KEY, text)) == text
