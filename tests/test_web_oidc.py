"""Signing in to the desk with Microsoft Entra ID, against a fake OpenID provider on 127.0.0.1
(discovery, JWKS, authorize, token; RS256 id tokens): the whole redirect dance through the real
validation. A forged, expired, other-tenant, other-audience or replayed token is refused."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlparse

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.clock import ManualClock
from bot.config import AppConfig, Teams
from bot.server import build_web_app
from bot.service import Service
from bot.settings import Settings
from storage.migrate import upgrade
from tests.fakes.oidc import FakeOIDC
from tests.helpers import audits

LA_DSP_OID = "11111111-1111-4111-8111-111111111111"  # la-dsp's `teams:` id in app.yaml


@pytest.fixture
async def idp() -> AsyncIterator[FakeOIDC]:
    fake = FakeOIDC(client_secret="s3cret")
    server = TestServer(fake.make_app(), host="127.0.0.1")
    await server.start_server()
    fake.base_url = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


@pytest.fixture
async def desk(cfg: AppConfig, clock: ManualClock, db_url: str, idp: FakeOIDC) -> AsyncIterator[TestClient]:
    cfg = cfg.model_copy(update={"teams": Teams(allowed_tenants=[idp.tenant])})
    service = Service.create(cfg, clock, db_url)
    await upgrade(service.engine)
    settings = Settings(
        panelbot_web_oidc_issuer=idp.issuer,
        panelbot_web_oidc_client_id=idp.client_id,
        panelbot_web_oidc_client_secret="s3cret",
    )
    async with TestClient(TestServer(build_web_app(service, settings), host="127.0.0.1")) as client:
        client.service = service  # type: ignore[attr-defined]
        yield client
    await service.close()


async def sign_in(client: TestClient, idp: FakeOIDC) -> tuple[int, str]:
    """/sign-in/entra → the provider's /authorize → /sign-in/callback: the callback's status and body."""
    start = await client.get("/sign-in/entra?next=/cases/TSCP-2026-001", allow_redirects=False)
    assert start.status == 303, await start.text()
    authorize = start.headers["Location"]
    assert authorize.startswith(idp.issuer + "/oauth2/v2.0/authorize?")
    query = parse_qs(urlparse(authorize).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"] and query["state"]
    approved = await client.session.get(authorize, allow_redirects=False)
    callback = approved.headers["Location"]
    assert urlparse(callback).path == "/sign-in/callback"
    answer = await client.get(urlparse(callback).path + "?" + urlparse(callback).query, allow_redirects=False)
    return answer.status, await answer.text()


async def signed_in(client: TestClient) -> bool:
    resp = await client.get("/", allow_redirects=False)
    return resp.status == 200


async def test_sign_in_by_entra_object_id(desk: TestClient, idp: FakeOIDC) -> None:
    idp.user = {"sub": "s1", "oid": LA_DSP_OID, "name": "Sam Patel", "preferred_username": "sam@tenant.example"}
    status, _ = await sign_in(desk, idp)
    assert status == 303 and await signed_in(desk)
    [event] = await audits(desk.service, "web_signed_in")  # type: ignore[attr-defined]
    assert (event.actor, event.details["method"]) == ("la-dsp", "entra")


async def test_sign_in_by_e_mail(desk: TestClient, idp: FakeOIDC) -> None:
    idp.user = {
        "sub": "s2",
        "oid": "99999999-0000-0000-0000-000000000000",
        "preferred_username": "Chris.Lee@example.org",
    }
    status, _ = await sign_in(desk, idp)
    assert status == 303 and await signed_in(desk)
    [event] = await audits(desk.service, "web_signed_in")  # type: ignore[attr-defined]
    assert event.actor == "police-dsp"


async def test_someone_not_on_the_roster_is_told_so(desk: TestClient, idp: FakeOIDC) -> None:
    idp.user = {"sub": "s3", "oid": "99999999-0000-0000-0000-000000000001", "preferred_username": "eve@example.org"}
    status, text = await sign_in(desk, idp)
    assert status == 403 and "not on the panel roster" in text and "eve@example.org" in text
    assert not await signed_in(desk)
    assert [a.details["command"] for a in await audits(desk.service, "refused")] == ["web_sign_in"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, id="expired"),
        pytest.param({"tid": "00000000-dead-beef-0000-000000000000"}, id="other-tenant"),
        pytest.param({"aud": "someone-else"}, id="other-audience"),
        pytest.param({"iss": "https://login.microsoftonline.com/other/v2.0"}, id="other-issuer"),
        pytest.param({"nonce": "replayed"}, id="wrong-nonce"),
    ],
)
async def test_bad_tokens_are_refused(desk: TestClient, idp: FakeOIDC, overrides: dict) -> None:
    idp.user = {"sub": "s1", "oid": LA_DSP_OID, "preferred_username": "sam.patel@example.org"}
    idp.claim_overrides = overrides
    status, text = await sign_in(desk, idp)
    assert status == 403 and "Sign-in was refused" in text
    assert not await signed_in(desk)
    assert [a.details["command"] for a in await audits(desk.service, "refused")] == ["web_entra_sign_in"]  # type: ignore[attr-defined]


async def test_a_forged_signature_is_refused(desk: TestClient, idp: FakeOIDC) -> None:
    idp.user = {"sub": "s1", "oid": LA_DSP_OID}
    await desk.get("/sign-in/entra", allow_redirects=False)  # the desk has read the provider's keys
    idp.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # same kid, another key
    status, text = await sign_in(desk, idp)
    assert status == 403 and "Signature verification failed" in text
    assert not await signed_in(desk)


async def test_a_callback_without_its_sign_in_is_refused(desk: TestClient) -> None:
    resp = await desk.get("/sign-in/callback?code=abc&state=xyz", allow_redirects=False)
    assert resp.status == 400 and "expired or was started elsewhere" in await resp.text()
