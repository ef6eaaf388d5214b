"""A small Microsoft Graph client on msgraph-sdk: mail, calendar events with a Teams meeting, and
user look-ups, as the app registration itself (client credentials, azure-identity).

`GRAPH_BASE_URL` points the SDK's request adapter elsewhere (a sovereign cloud, or the fake Graph
on 127.0.0.1 in tests); `GRAPH_AUTHORITY_HOST` does the same for the sign-in. The SDK's own retry
handler is switched off: a 429/503 comes back as `GraphError` with its Retry-After, and the outbox
retries at that time, so one slow mailbox never holds up the delivery loop (and a mail, which has
no idempotency key, is not re-posted behind the outbox's back). Events carry `transaction_id`, so
a retry after a lost answer cannot create a second invite.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlparse

import httpx
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import AzureError
from azure.identity.aio import ClientSecretCredential
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.attendee import Attendee
from msgraph.generated.models.attendee_type import AttendeeType
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.event import Event
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.message import Message as GraphMessage
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.online_meeting_provider_type import OnlineMeetingProviderType
from msgraph.generated.models.single_value_legacy_extended_property import SingleValueLegacyExtendedProperty
from msgraph.generated.users.item.messages.messages_request_builder import MessagesRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph_core import GraphClientFactory

from bot.messages import Meeting
from bot.settings import Settings, reveal
from bot.worker.outbox import retry_after_seconds

DEFAULT_BASE_URL = "https://graph.microsoft.com/v1.0"
# panelbot's named single-value extended property on mail: the outbox key, to find a mail by after
# an unknown outcome. A fixed GUID of panelbot's own (MAPI named properties need a property set).
OUTBOX_KEY_PROPERTY = "String {6f1c2a4e-3b5d-4e8f-9a71-0c2d4e6f8a10} Name PanelbotOutboxKey"
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
TRANSIENT = {408, 429, 500, 502, 503, 504}


class GraphError(Exception):
    """A Graph call that failed; `transient` ones are worth retrying after `retry_after` seconds."""

    def __init__(self, status: int | None, message: str, retry_after: float | None = None) -> None:
        super().__init__(f"Graph {status or 'unreachable'}: {message}")
        self.status = status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status is None or self.status in TRANSIENT


@dataclass(frozen=True)
class DirectoryUser:
    id: str
    display_name: str | None
    mail: str | None
    user_principal_name: str | None


@dataclass(frozen=True)
class CreatedEvent:
    id: str
    join_url: str | None


class GraphClient:
    def __init__(self, credential: AsyncTokenCredential, base_url: str | None = None) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        host = urlparse(self.base_url).hostname or ""
        auth = AzureIdentityAuthenticationProvider(credential, allowed_hosts=[host])
        options = {RetryHandlerOption.get_key(): RetryHandlerOption(max_retries=0, should_retry=False)}
        client = httpx.AsyncClient(timeout=TIMEOUT)
        http = GraphClientFactory.create_with_default_middleware(client=client, options=options)
        self.adapter = GraphRequestAdapter(auth, client=http)
        self.adapter.base_url = self.base_url
        self.sdk = GraphServiceClient(request_adapter=self.adapter)
        self.credential = credential

    @classmethod
    def from_settings(cls, settings: Settings, **credential_options: Any) -> GraphClient:
        """The app registration's client-credentials sign-in; options go to azure-identity."""
        if settings.graph_authority_host:
            credential_options.setdefault("authority", settings.graph_authority_host)
        credential = ClientSecretCredential(
            settings.graph_tenant_id or "",
            settings.graph_client_id or "",
            reveal(settings.graph_client_secret) or "",
            **credential_options,
        )
        return cls(credential, settings.graph_base_url)

    async def close(self) -> None:
        await self.credential.close()

    # --- mail --------------------------------------------------------------------------------

    async def send_mail(self, mailbox: str, to: list[str], subject: str, text: str, html: str) -> None:
        """Send a mail from `mailbox` with plain-text and HTML parts (MIME, multipart/alternative).
        No idempotency: the outbox's mail sender uses drafts (`create_draft` … `send_draft`) instead."""
        request = RequestInformation(Method.POST, "{+baseurl}/users/{user%2Did}/sendMail")
        request.path_parameters = {"baseurl": self.base_url, "user%2Did": mailbox}
        request.set_stream_content(base64.b64encode(_mime(mailbox, to, subject, text, html)), "text/plain")
        await self._call(self.adapter.send_no_response_content_async(request, {"XXX": ODataError}))

    async def create_draft(self, mailbox: str, to: list[str], subject: str, text: str, html: str) -> str:
        """A draft in `mailbox` (MIME: plain-text and HTML parts); returns its id."""
        request = RequestInformation(Method.POST, "{+baseurl}/users/{user%2Did}/messages")
        request.path_parameters = {"baseurl": self.base_url, "user%2Did": mailbox}
        request.set_stream_content(base64.b64encode(_mime(mailbox, to, subject, text, html)), "text/plain")
        raw = await self._call(self.adapter.send_primitive_async(request, "bytes", {"XXX": ODataError}))
        try:
            draft_id = json.loads(raw or b"{}").get("id")
        except ValueError:
            draft_id = None
        if not isinstance(draft_id, str) or not draft_id:
            raise GraphError(None, "draft creation answered without a message id")
        return draft_id

    async def tag_message(self, mailbox: str, message_id: str, key: str) -> None:
        """Put `key` on a draft in panelbot's single-value extended property, to find it by later."""
        tag = SingleValueLegacyExtendedProperty(id=OUTBOX_KEY_PROPERTY, value=key)
        patch = GraphMessage(single_value_extended_properties=[tag])
        await self._call(self.sdk.users.by_user_id(mailbox).messages.by_message_id(message_id).patch(patch))

    async def send_draft(self, mailbox: str, message_id: str) -> None:
        await self._call(self.sdk.users.by_user_id(mailbox).messages.by_message_id(message_id).send.post())

    async def messages_with_key(self, mailbox: str, key: str) -> list[tuple[str, bool]]:
        """(id, is a draft) of every message in the mailbox (any folder: Drafts, Sent Items) tagged with `key`."""
        quoted = key.replace("'", "''")
        tagged = f"singleValueExtendedProperties/any(ep: ep/id eq '{OUTBOX_KEY_PROPERTY}' and ep/value eq '{quoted}')"
        query = MessagesRequestBuilder.MessagesRequestBuilderGetQueryParameters(filter=tagged, select=["id", "isDraft"])
        config = RequestConfiguration(query_parameters=query)
        page = await self._call(self.sdk.users.by_user_id(mailbox).messages.get(config))
        return [(m.id or "", bool(m.is_draft)) for m in (page.value if page else None) or [] if m.id]

    async def draft_exists(self, mailbox: str, message_id: str) -> bool | None:
        """True if the message is still a draft, False if it is no longer one, None if it is gone
        (a sent draft moves to Sent Items under a new id)."""
        builder = self.sdk.users.by_user_id(mailbox).messages.by_message_id(message_id)
        try:
            found = await self._call(builder.get())
        except GraphError as exc:
            if exc.status == 404:
                return None
            raise
        return bool(found.is_draft) if found is not None else None

    # --- calendar ----------------------------------------------------------------------------

    async def create_event(self, mailbox: str, meeting: Meeting, body_html: str) -> CreatedEvent:
        """An Outlook event with a Teams meeting in the mailbox's calendar, inviting the attendees."""
        event = Event(
            subject=meeting.subject,
            body=ItemBody(content_type=BodyType.Html, content=body_html),
            start=_utc(meeting.start),
            end=_utc(meeting.end),
            attendees=[
                Attendee(email_address=EmailAddress(address=a), type=AttendeeType.Required) for a in meeting.attendees
            ],
            is_online_meeting=True,
            online_meeting_provider=OnlineMeetingProviderType.TeamsForBusiness,
            transaction_id=meeting.transaction_id,
        )
        created = await self._call(self.sdk.users.by_user_id(mailbox).events.post(event))
        if created is None or not created.id:
            raise GraphError(None, "event creation answered without an event id")
        join_url = created.online_meeting.join_url if created.online_meeting else None
        return CreatedEvent(created.id, join_url)

    # --- directory ---------------------------------------------------------------------------

    async def find_user(self, email: str) -> DirectoryUser | None:
        """The directory user whose mail or user principal name is this address, if any."""
        quoted = email.replace("'", "''")
        query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
            filter=f"mail eq '{quoted}' or userPrincipalName eq '{quoted}'",
            select=["id", "displayName", "mail", "userPrincipalName"],
        )
        page = await self._call(self.sdk.users.get(RequestConfiguration(query_parameters=query)))
        users = (page.value if page else None) or []
        if not users:
            return None
        u = users[0]
        return DirectoryUser(u.id or "", u.display_name, u.mail, u.user_principal_name)

    async def _call(self, pending: Any) -> Any:
        try:
            return await pending
        except APIError as exc:
            status = exc.response_status_code
            raise GraphError(status, _message(exc), _retry_after(exc.response_headers)) from exc
        except (httpx.HTTPError, AzureError) as exc:  # unreachable, or the sign-in failed
            raise GraphError(None, f"{type(exc).__name__}: {exc}") from exc


def _mime(mailbox: str, to: list[str], subject: str, text: str, html: str) -> bytes:
    mime = EmailMessage()
    mime["From"], mime["To"], mime["Subject"] = mailbox, ", ".join(to), subject
    mime.set_content(text)
    mime.add_alternative(html, subtype="html")
    return mime.as_bytes()


def _utc(moment: dt.datetime) -> DateTimeTimeZone:
    return DateTimeTimeZone(date_time=moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"), time_zone="UTC")


def _message(exc: APIError) -> str:
    error = getattr(exc, "error", None)
    if error is not None and getattr(error, "message", None):
        return f"{error.code}: {error.message}"
    return exc.message or type(exc).__name__


def _retry_after(headers: dict[str, Any] | None) -> float | None:
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            return retry_after_seconds(value[0] if isinstance(value, list | tuple | set) else value)
    return None
