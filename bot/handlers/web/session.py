"""Signed-cookie sessions for the desk: who is signed in, their CSRF token, and when they were last
seen (idle expiry). The cookie is an HMAC-SHA256-signed JSON document, so several replicas sharing
`PANELBOT_WEB_SESSION_KEY` accept each other's sessions; without the variable a key is generated
per process (everyone signs in again after a restart)."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

COOKIE = "panelbot_session"
PENDING_COOKIE = "panelbot_oidc"  # state, nonce and PKCE verifier between /sign-in/entra and the callback


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    person_id: str | None = None
    method: str | None = None  # dev | entra
    seen: float = 0.0  # epoch seconds of the last request
    flash: str | None = None  # what the last action did, shown once on the next page

    def signed_in_as(self, person_id: str, method: str, now: dt.datetime) -> Session:
        """A fresh session (new CSRF token) on sign-in, so a token seen before cannot be replayed."""
        return Session(person_id=person_id, method=method, seen=now.timestamp())

    def touched(self, now: dt.datetime) -> Session:
        return replace(self, seen=now.timestamp())

    def with_flash(self, text: str | None) -> Session:
        return replace(self, flash=text[:500] if text else None)


class Signer:
    """Signs and checks small JSON documents (the session, the pending sign-in)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the web session key must be at least 32 bytes")
        self.key = key

    @classmethod
    def from_setting(cls, secret: str | None) -> Signer:
        return cls(secret.encode() if secret else secrets.token_bytes(32))

    def dumps(self, data: dict[str, Any], purpose: str) -> str:
        body = _b64(json.dumps(data, separators=(",", ":")).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def loads(self, token: str | None, purpose: str) -> dict[str, Any] | None:
        if not token or token.count(".") != 1:
            return None
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, body)):
            return None
        try:
            data = json.loads(_unb64(body))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _mac(self, purpose: str, body: str) -> str:
        return _b64(hmac.new(self.key, f"{purpose}.{body}".encode(), hashlib.sha256).digest())


def load_session(signer: Signer, cookie: str | None, now: dt.datetime, idle: dt.timedelta) -> Session:
    """The session in the cookie; a new anonymous one when missing, forged or idle too long."""
    data = signer.loads(cookie, "session")
    if data is None:
        return Session(seen=now.timestamp())
    try:
        session = Session(
            csrf=str(data["c"]),
            person_id=data.get("p"),
            method=data.get("m"),
            seen=float(data["t"]),
            flash=data.get("f"),
        )
    except (KeyError, TypeError, ValueError):
        return Session(seen=now.timestamp())
    if session.person_id and now.timestamp() - session.seen > idle.total_seconds():
        return Session(seen=now.timestamp())  # idle too long: signed out
    return session


def dump_session(signer: Signer, session: Session) -> str:
    data = {"c": session.csrf, "p": session.person_id, "m": session.method, "t": session.seen, "f": session.flash}
    return signer.dumps(data, "session")


def csrf_ok(session: Session, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf, str(sent))


def is_loopback(host: str | None) -> bool:
    """`127.0.0.1`, `::1`, `localhost` (with or without a port)."""
    if not host:
        return False
    name = host.strip()
    if name.startswith("["):  # [::1]:3978
        name = name[1 : name.find("]")]
    elif name.count(":") == 1:
        name = name.split(":")[0]
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
