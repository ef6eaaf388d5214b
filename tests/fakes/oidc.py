"""Fake OpenID Connect provider for tests (auth-code + PKCE, RS256 id_tokens). Entra-ID-shaped:
issuer = {base}/{tenant}/v2.0, id_token carries `tid`. Test-only: /authorize approves instantly.

Routes (relative to the issuer):
  GET  /.well-known/openid-configuration
  GET  /discovery/v2.0/keys            (JWKS)
  GET  /oauth2/v2.0/authorize          -> 302 redirect_uri?code=..&state=..
  POST /oauth2/v2.0/token              (grant_type=authorization_code, checks PKCE S256)
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm


def b64url_sha256(s: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(s.encode()).digest()).rstrip(b"=").decode()


@dataclass
class FakeOIDC:
    client_id: str = "panelbot-test-client"
    client_secret: str | None = None  # set to require client_secret_post
    tenant: str = "11111111-2222-3333-4444-555555555555"
    user: dict = field(
        default_factory=lambda: {
            "sub": "user-sub-1",
            "oid": "00000000-0000-0000-0000-0000000000aa",
            "name": "Test User",
            "preferred_username": "test.user@example.test",
        }
    )
    token_ttl: int = 300
    base_url: str = ""  # set once the server is listening (ServerThread.url)
    kid: str = field(default_factory=lambda: secrets.token_hex(8))
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    codes: dict = field(default_factory=dict)
    claim_overrides: dict = field(default_factory=dict)  # tests: force bad iss/aud/tid/exp etc.

    @property
    def prefix(self) -> str:
        return f"/{self.tenant}/v2.0"

    @property
    def issuer(self) -> str:
        return self.base_url + self.prefix

    def jwks(self) -> dict:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return {"keys": [jwk]}

    def make_id_token(self, nonce: str | None, **extra) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "nbf": now,
            "exp": now + self.token_ttl,
            "tid": self.tenant,
            **self.user,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(self.claim_overrides, **extra)
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    # --- handlers ---
    async def discovery(self, request: web.Request) -> web.Response:
        i = self.issuer
        return web.json_response(
            {
                "issuer": i,
                "authorization_endpoint": f"{i}/oauth2/v2.0/authorize",
                "token_endpoint": f"{i}/oauth2/v2.0/token",
                "jwks_uri": f"{i}/discovery/v2.0/keys",
                "response_types_supported": ["code"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "profile", "email"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "none"],
            }
        )

    async def keys(self, request: web.Request) -> web.Response:
        return web.json_response(self.jwks())

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("client_id") != self.client_id or q.get("response_type") != "code":
            return web.json_response({"error": "invalid_request"}, status=400)
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return web.json_response(
                {"error": "invalid_request", "error_description": "PKCE S256 required"}, status=400
            )
        if "openid" not in q.get("scope", "").split():
            return web.json_response({"error": "invalid_scope"}, status=400)
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "redirect_uri": q["redirect_uri"],
            "nonce": q.get("nonce"),
            "challenge": q["code_challenge"],
            "exp": time.time() + 60,
        }
        params = {"code": code, **({"state": q["state"]} if "state" in q else {})}
        raise web.HTTPFound(f"{q['redirect_uri']}?{urlencode(params)}")

    async def token(self, request: web.Request) -> web.Response:
        f = await request.post()
        err = lambda e, d="": web.json_response({"error": e, "error_description": d}, status=400)  # noqa: E731
        if f.get("grant_type") != "authorization_code":
            return err("unsupported_grant_type")
        if f.get("client_id") != self.client_id or (
            self.client_secret and f.get("client_secret") != self.client_secret
        ):
            return web.json_response({"error": "invalid_client"}, status=401)
        entry = self.codes.pop(str(f.get("code", "")), None)  # single use
        if not entry or entry["exp"] < time.time():
            return err("invalid_grant", "unknown or expired code")
        if f.get("redirect_uri") != entry["redirect_uri"]:
            return err("invalid_grant", "redirect_uri mismatch")
        if b64url_sha256(str(f.get("code_verifier", ""))) != entry["challenge"]:
            return err("invalid_grant", "PKCE verification failed")
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": self.token_ttl,
                "scope": "openid profile email",
                "access_token": secrets.token_urlsafe(32),
                "id_token": self.make_id_token(entry["nonce"]),
            },
            headers={"Cache-Control": "no-store"},
        )

    def make_app(self) -> web.Application:
        app = web.Application()
        p = self.prefix
        app.router.add_get(f"{p}/.well-known/openid-configuration", self.discovery)
        app.router.add_get(f"{p}/discovery/v2.0/keys", self.keys)
        app.router.add_get(f"{p}/oauth2/v2.0/authorize", self.authorize)
        app.router.add_post(f"{p}/oauth2/v2.0/token", self.token)
        return app
