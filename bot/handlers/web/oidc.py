"""Sign-in with Microsoft Entra ID: OpenID Connect authorization code with PKCE (S256), state and
nonce; the id token validated with PyJWT (signature against the provider's JWKS, issuer, audience,
expiry, nonce) and its tenant checked against `teams.allowed_tenants`.

Hand-rolled rather than msal: msal refuses a non-https authority, so it cannot be tested against a
local fake provider; and it is async (aiohttp), so it never blocks the server's loop.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import jwt


class OIDCError(Exception):
    """Sign-in failed; the message is for the log and the person (it carries no secret)."""


@dataclass(frozen=True)
class PendingAuth:
    """Kept in a signed cookie between the redirect to the provider and the callback."""

    state: str
    nonce: str
    code_verifier: str
    next: str = "/"


@dataclass
class OIDCClient:
    issuer: str  # https://login.microsoftonline.com/<tenant id>/v2.0
    client_id: str
    client_secret: str | None = None
    allowed_tenants: frozenset[str] = frozenset()  # empty: any tenant
    scope: str = "openid profile email"
    leeway: int = 60
    _meta: dict[str, Any] = field(default_factory=dict, repr=False)
    _jwks: jwt.PyJWKSet | None = field(default=None, repr=False)

    async def discover(self, http: aiohttp.ClientSession) -> None:
        if self._meta:
            return
        async with http.get(self.issuer.rstrip("/") + "/.well-known/openid-configuration") as r:
            r.raise_for_status()
            meta = await r.json()
        if meta.get("issuer") != self.issuer:
            raise OIDCError(f"the provider's discovery document names another issuer: {meta.get('issuer')!r}")
        self._meta = meta
        await self._load_jwks(http)

    async def _load_jwks(self, http: aiohttp.ClientSession) -> None:
        async with http.get(self._meta["jwks_uri"]) as r:
            r.raise_for_status()
            self._jwks = jwt.PyJWKSet.from_dict(await r.json())

    def authorization_request(self, redirect_uri: str, next_path: str = "/") -> tuple[str, PendingAuth]:
        pending = PendingAuth(
            secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64), next_path
        )
        digest = hashlib.sha256(pending.code_verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        params = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": redirect_uri,
            "scope": self.scope,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "response_mode": "query",
        }
        return f"{self._meta['authorization_endpoint']}?{urlencode(params)}", pending

    async def handle_callback(
        self, http: aiohttp.ClientSession, query: dict[str, str], pending: PendingAuth, redirect_uri: str
    ) -> dict[str, Any]:
        """The callback's query → validated id token claims."""
        if "error" in query:
            raise OIDCError(f"the provider said: {query['error']} {query.get('error_description', '')}".strip())
        if not hmac.compare_digest(str(query.get("state", "")), pending.state):
            raise OIDCError("the sign-in's state does not match; please start again")
        if not query.get("code"):
            raise OIDCError("the provider sent no authorization code")
        form = {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": pending.code_verifier,
        }
        if self.client_secret:
            form["client_secret"] = self.client_secret
        async with http.post(self._meta["token_endpoint"], data=form) as r:
            body = await r.json(content_type=None)
            if r.status != 200 or not isinstance(body, dict) or "id_token" not in body:
                raise OIDCError(f"the token endpoint answered {r.status}: {body.get('error') if body else ''}")
        return await self.validate_id_token(http, body["id_token"], pending.nonce)

    async def validate_id_token(self, http: aiohttp.ClientSession, id_token: str, nonce: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
        except jwt.InvalidTokenError as exc:
            raise OIDCError(f"invalid id token: {exc}") from exc
        key = await self._key(http, kid)
        try:
            claims = jwt.decode(
                id_token,
                key=key,
                algorithms=["RS256"],  # pinned: never taken from the token
                audience=self.client_id,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["iss", "aud", "exp", "iat", "sub", "nonce"]},
            )
        except jwt.InvalidTokenError as exc:
            raise OIDCError(f"invalid id token: {exc}") from exc
        if not hmac.compare_digest(str(claims["nonce"]), nonce):
            raise OIDCError("invalid id token: the nonce does not match")
        if self.allowed_tenants and claims.get("tid") not in self.allowed_tenants:
            raise OIDCError(f"the tenant {claims.get('tid')!r} is not allowed to sign in here")
        return claims

    async def _key(self, http: aiohttp.ClientSession, kid: str | None) -> jwt.PyJWK:
        for attempt in range(2):
            try:
                assert self._jwks is not None
                return self._jwks[str(kid)]
            except (KeyError, AssertionError):
                if attempt == 0:
                    await self._load_jwks(http)  # key rotation: fetch once more
        raise OIDCError(f"invalid id token: unknown signing key {kid!r}")
