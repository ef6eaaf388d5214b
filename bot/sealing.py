"""Personal data sealed at rest: Part A section 4 and the referrer's contact details, as one JSON
document each, encrypted with Fernet (AES-128-CBC with HMAC-SHA256: authenticated, so a wrong key or
a changed byte is an error, never garbage) under the keys in `PANELBOT_DATA_KEY`.

`PANELBOT_DATA_KEY` holds one or more Fernet keys separated by commas, newest first: new data is
sealed with the first, any of them opens, and `panelbot keys rotate` re-seals everything with the
first. Without a key, data is kept in the clear (`plain:`) and sealed data reads as locked.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SEALED, PLAIN = "fernet:", "plain:"


class DataKeyError(ValueError):
    """PANELBOT_DATA_KEY is malformed, or does not open what is stored."""


class Seal(StrEnum):
    """How a stored document reads with the keys at hand."""

    OPEN = "open"  # read (clear, or sealed and opened)
    LOCKED = "locked"  # sealed, and no key is configured
    WRONG_KEY = "wrong_key"  # sealed, and none of the configured keys opens it


@dataclass(frozen=True)
class Keyring:
    keys: tuple[bytes, ...]

    @classmethod
    def parse(cls, text: str | None) -> Keyring | None:
        """The keys in a PANELBOT_DATA_KEY value, or None when it is empty; a malformed key is an error."""
        parts = [p.strip() for p in (text or "").split(",") if p.strip()]
        if not parts:
            return None
        for n, part in enumerate(parts, 1):
            try:
                Fernet(part.encode())
            except (ValueError, TypeError):
                raise DataKeyError(
                    f"PANELBOT_DATA_KEY: key {n} of {len(parts)} is not a Fernet key (44 characters of url-safe "
                    "base64); make one with `panelbot keys generate`"
                ) from None
        return cls(tuple(p.encode() for p in parts))

    @staticmethod
    def generate() -> str:
        return Fernet.generate_key().decode()

    @classmethod
    def throwaway(cls) -> Keyring:
        """A key for the demo and the tests, forgotten when the process ends."""
        return cls((Fernet.generate_key(),))

    @property
    def _fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(k) for k in self.keys])

    def seal(self, data: Mapping[str, Any]) -> str:
        return SEALED + self._fernet.encrypt(_dump(data)).decode()

    def open(self, stored: str) -> dict[str, Any]:
        try:
            return json.loads(self._fernet.decrypt(stored.removeprefix(SEALED).encode()))
        except InvalidToken:
            raise DataKeyError(
                "none of the keys in PANELBOT_DATA_KEY opens this sealed record: it was sealed with another key "
                "(or changed since)"
            ) from None

    def reseal(self, stored: str) -> str:
        """`stored` sealed with the newest key (a clear document is sealed for the first time)."""
        if stored.startswith(PLAIN):
            return self.seal(json.loads(stored.removeprefix(PLAIN)))
        try:
            return SEALED + self._fernet.rotate(stored.removeprefix(SEALED).encode()).decode()
        except InvalidToken:
            raise DataKeyError(
                "none of the keys in PANELBOT_DATA_KEY opens a stored record; nothing was changed"
            ) from None


def store(keys: Keyring | None, data: Mapping[str, Any]) -> str:
    """A document as it is kept: sealed when there is a key, in the clear when there is none."""
    return keys.seal(data) if keys is not None else PLAIN + _dump(data).decode()


def read(keys: Keyring | None, stored: str | None) -> tuple[Seal, dict[str, Any] | None]:
    """A kept document: its contents when they can be read, and how it reads."""
    if stored is None:
        return Seal.OPEN, None
    if stored.startswith(PLAIN):
        return Seal.OPEN, json.loads(stored.removeprefix(PLAIN))
    if keys is None:
        return Seal.LOCKED, None
    try:
        return Seal.OPEN, keys.open(stored)
    except DataKeyError:
        return Seal.WRONG_KEY, None


def is_sealed(stored: str | None) -> bool:
    return bool(stored and stored.startswith(SEALED))


def _dump(data: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(data), sort_keys=True, default=str, ensure_ascii=False).encode()
