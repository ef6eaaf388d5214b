"""A fake Microsoft Graph and a fake Entra token endpoint, both on 127.0.0.1.

The token endpoint speaks TLS with a certificate made here for 127.0.0.1, because azure-identity
accepts only https authorities; the test's credential trusts that certificate and nothing else
changes. Graph itself is plain http (kiota allows that for 127.0.0.1): sendMail (MIME or JSON),
events (transactionId honoured as Graph does: a repeat returns the first event), and user look-ups.
Every Graph call must carry a token the fake authority issued.
"""

from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import ipaddress
import itertools
import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

GRAPH_TENANT = "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


@dataclass
class Mail:
    mailbox: str
    to: list[str]
    subject: str
    text: str
    html: str

    @property
    def everything(self) -> str:
        return "\n".join([self.subject, self.text, self.html])


@dataclass
class FakeGraph:
    tls_dir: Path
    users: dict[str, dict[str, str]] = field(default_factory=dict)  # by lower-case e-mail
    mails: list[Mail] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    event_posts: list[dict[str, Any]] = field(default_factory=list)
    tokens: list[dict[str, str]] = field(default_factory=list)  # token requests as posted
    # per event POST, in order: (status, retry_after, create the event before failing?)
    event_failures: list[tuple[int, str | None, bool]] = field(default_factory=list)
    mail_failures: list[tuple[int, str | None]] = field(default_factory=list)  # sendMail, or a draft's send
    # per mailbox operation ("create", "tag", "send", "find"): statuses answered AFTER doing the work,
    # as when the answer is lost on the way back
    lost_answers: dict[str, list[int]] = field(default_factory=dict)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # by id: drafts and sent items
    _issued: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    graph_server: TestServer | None = None
    login_server: TestServer | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> FakeGraph:
        ca_path, context = make_tls(self.tls_dir)
        self.ca_path = ca_path
        login = web.Application()
        login.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        self.login_server = TestServer(login, host="127.0.0.1")
        await self.login_server.start_server(ssl=context)
        graph = web.Application()
        graph.router.add_post("/v1.0/users/{user}/sendMail", self._send_mail)
        graph.router.add_post("/v1.0/users/{user}/events", self._create_event)
        graph.router.add_post("/v1.0/users/{user}/messages", self._create_message)
        graph.router.add_get("/v1.0/users/{user}/messages", self._find_messages)
        graph.router.add_get("/v1.0/users/{user}/messages/{id}", self._get_message)
        graph.router.add_patch("/v1.0/users/{user}/messages/{id}", self._patch_message)
        graph.router.add_post("/v1.0/users/{user}/messages/{id}/send", self._send_draft)
        graph.router.add_get("/v1.0/users", self._list_users)
        self.graph_server = TestServer(graph, host="127.0.0.1")
        await self.graph_server.start_server()
        return self

    async def close(self) -> None:
        for server in (self.graph_server, self.login_server):
            if server is not None:
                await server.close()

    @property
    def base_url(self) -> str:
        assert self.graph_server is not None
        return str(self.graph_server.make_url("/v1.0"))

    @property
    def authority(self) -> str:
        assert self.login_server is not None
        return f"https://127.0.0.1:{self.login_server.port}"

    def settings(self) -> dict[str, str]:
        return {
            "GRAPH_TENANT_ID": GRAPH_TENANT,
            "GRAPH_CLIENT_ID": "graph-client-id",
            "GRAPH_CLIENT_SECRET": "graph-client-secret",
            "GRAPH_BASE_URL": self.base_url,
            "GRAPH_AUTHORITY_HOST": self.authority,
        }

    def add_user(self, mail: str, object_id: str, name: str = "Someone") -> None:
        self.users[mail.lower()] = {"id": object_id, "displayName": name, "mail": mail, "userPrincipalName": mail}

    # --- the token endpoint --------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.tokens.append({k: str(v) for k, v in form.items()} | {"tenant": request.match_info["tenant"]})
        if form.get("client_secret") != "graph-client-secret" or request.match_info["tenant"] != GRAPH_TENANT:
            return web.json_response({"error": "invalid_client"}, status=401)
        token = f"fake-graph-token-{next(self._ids)}"
        self._issued.add(token)
        return web.json_response({"token_type": "Bearer", "expires_in": 3600, "access_token": token})

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header.removeprefix("Bearer ") in self._issued

    # --- Graph ---------------------------------------------------------------------------------

    async def _send_mail(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "InvalidAuthenticationToken")
        if self.mail_failures:
            status, retry_after = self.mail_failures.pop(0)
            return _error(status, "ServiceUnavailable", retry_after)
        raw = await request.read()
        if request.content_type == "text/plain":
            self.mails.append(parse_mime(request.match_info["user"], base64.b64decode(raw)))
        else:
            self.mails.append(parse_json_mail(request.match_info["user"], await request.json()))
        return web.Response(status=202)

    # --- drafts, their extended properties, and sending them ----------------------------------

    def _lost(self, operation: str, answer: web.Response) -> web.Response:
        statuses = self.lost_answers.get(operation) or []
        return _error(statuses.pop(0), "ServiceUnavailable") if statuses else answer

    def sent_with_key(self, key: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.values() if not m["isDraft"] and key in m["props"].values()]

    async def _create_message(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "InvalidAuthenticationToken")
        raw, mailbox = await request.read(), request.match_info["user"]
        if request.content_type == "text/plain":
            mail = parse_mime(mailbox, base64.b64decode(raw))
        else:
            mail = parse_json_mail(mailbox, {"message": await request.json()})
        draft = {"id": f"AAMkDraft{next(self._ids)}", "isDraft": True, "mail": mail, "props": {}}
        self.messages[draft["id"]] = draft
        return self._lost("create", web.json_response({"id": draft["id"], "isDraft": True}, status=201))

    async def _patch_message(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "InvalidAuthenticationToken")
        found = self.messages.get(request.match_info["id"])
        if found is None:
            return _error(404, "ErrorItemNotFound")
        for prop in (await request.json()).get("singleValueExtendedProperties") or []:
            found["props"][prop["id"]] = prop["value"]
        return self._lost("tag", web.json_response({"id": found["id"], "isDraft": found["isDraft"]}))

    async def _send_draft(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "InvalidAuthenticationToken")
        if self.mail_failures:
            status, retry_after = self.mail_failures.pop(0)
            return _error(status, "ServiceUnavailable", retry_after)
        draft = self.messages.get(request.match_info["id"])
        if draft is None or not draft["isDraft"]:
            return _error(404, "ErrorItemNotFound")
        del self.messages[draft["id"]]  # sending moves it to Sent Items, under a new id, as Exchange does
        sent = draft | {"id": f"AAMkSent{next(self._ids)}", "isDraft": False}
        self.messages[sent["id"]] = sent
        self.mails.append(draft["mail"])
        return self._lost("send", web.Response(status=202))

    async def _find_messages(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "InvalidAuthenticationToken")
        query = request.query.get("$filter", "")
        match = re.search(r"ep/id eq '((?:[^']|'')*)' and ep/value eq '((?:[^']|'')*)'", query)
        if match is None:
            return _error(400, "BadRequest")
        prop, value = (g.replace("''", "'") for g in match.groups())
        found = [
            {"id": m["id"], "isDraft": m["isDraft"]}
            for m in self.messages.values()
            if m["mail"].mailbox == request.match_info["user"] and m["props"].get(prop) == value
        ]
        return self._lost("find", web.json_response({"value": found}))

    async def _get_message(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "InvalidAuthenticationToken")
        found = self.messages.get(request.match_info["id"])
        if found is None:
            return _error(404, "ErrorItemNotFound")
        return web.json_response({"id": found["id"], "isDraft": found["isDraft"]})

    async def _create_event(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "InvalidAuthenticationToken")
        body = await request.json()
        self.event_posts.append(body)
        existing = next((e for e in self.events if e["transactionId"] == body.get("transactionId")), None)
        failure = self.event_failures.pop(0) if self.event_failures else None
        if existing is None and (failure is None or failure[2]):
            existing = self._new_event(request.match_info["user"], body)
        if failure is not None:
            return _error(failure[0], "ServiceUnavailable", failure[1])
        return web.json_response(existing, status=201)

    def _new_event(self, mailbox: str, body: dict[str, Any]) -> dict[str, Any]:
        n = next(self._ids)
        event = {
            **body,
            "id": f"AAMkEvent{n}",
            "organizer": {"emailAddress": {"address": mailbox}},
            "onlineMeeting": {"joinUrl": f"https://teams.microsoft.com/l/meetup-join/fake-{n}"},
            "createdDateTime": dt.datetime.now(dt.UTC).isoformat(),
        }
        self.events.append(event)
        return event

    async def _list_users(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, "InvalidAuthenticationToken")
        wanted = {m.lower() for m in re.findall(r"eq '([^']*)'", request.query.get("$filter", ""))}
        found = [u for mail, u in self.users.items() if mail in wanted]
        return web.json_response({"value": found})


def _error(status: int, code: str, retry_after: str | None = None) -> web.Response:
    headers = {"Retry-After": retry_after} if retry_after else {}
    return web.json_response({"error": {"code": code, "message": code}}, status=status, headers=headers)


def parse_mime(mailbox: str, raw: bytes) -> Mail:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    return Mail(
        mailbox=mailbox,
        to=[a.strip() for a in str(message["To"]).split(",")],
        subject=str(message["Subject"]).strip(),
        text=text.get_content() if text else "",
        html=html.get_content() if html else "",
    )


def parse_json_mail(mailbox: str, body: dict[str, Any]) -> Mail:
    message = body["message"]
    content = message["body"]["content"]
    to = [r["emailAddress"]["address"] for r in message.get("toRecipients", [])]
    html = content if message["body"].get("contentType", "").lower() == "html" else ""
    return Mail(mailbox, to, message.get("subject", ""), "" if html else content, html)


def make_tls(directory: Path) -> tuple[str, ssl.SSLContext]:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it; returns the CA file and a server context."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "panelbot test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return str(ca_path), context
