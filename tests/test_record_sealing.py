"""Part A section 4 and the referrer's contact details sealed at rest under PANELBOT_DATA_KEY:
what the store holds, a locked store (no key), a wrong key, and rotation to a new key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bot.cli import app
from bot.flows.commands import RecordScrutiny
from bot.flows.common import load_case
from bot.flows.personal import part_a
from bot.flows.screening import panel
from bot.sealing import DataKeyError, Keyring
from bot.service import Service
from tests.conftest import ROOT
from tests.helpers import audits, outbox, refer, vote

CONFIG = ["--config", str(ROOT / "app.yaml")]
CHILD = {
    "forenames": "Zebedee",
    "last_name": "Quixotic",
    "home_address": "1 Secret Lane",
    "date_of_birth": "2019-03-07",
    "nhs_number": "943 476 5919",
}
REFERRER = {"name": "Dr A Referrer", "email": "referrer@example.org", "phone": "0161 496 0000"}


def with_keys(service: Service, keys: Keyring | None) -> Service:
    return Service(service.cfg, service.clock, service.engine, service.sessions, service.link_key, None, keys)


async def stored(service: Service) -> tuple[str, str, str | None]:
    async with service.engine.connect() as conn:
        child = (await conn.execute(sa.text("SELECT sealed, forenames FROM children"))).one()
        case = (await conn.execute(sa.text("SELECT referrer_sealed, referrer_email FROM cases"))).one()
    assert child.forenames is None and case.referrer_email is None  # nothing in the old clear columns
    return child.sealed, case.referrer_sealed, None


async def read_part_a(service: Service, ref: str):
    async def work(uow):
        return await part_a(uow, service.env, await load_case(uow, ref))

    return await service.read(work)


async def decide(service: Service, ref: str) -> None:
    """The panel decides and the scrutineer concurs: the referrer's outcome e-mail is due."""
    for who in ("la-dsp", "police-dsp", "health-dsp"):
        await vote(service, who, ref, "no_further_action")
    await service.run(panel.record_scrutiny, RecordScrutiny(by="scrutineer", ref=ref, verdict="concur"))


async def test_the_store_holds_only_ciphertext_and_the_flows_still_read_it(service: Service):
    case = await refer(service, child=CHILD, referrer=REFERRER)
    child_doc, contact_doc, _ = await stored(service)
    for doc in (child_doc, contact_doc):
        assert doc.startswith("fernet:")
        assert not any(s in doc for s in ("Zebedee", "Quixotic", "Secret", "referrer@", "5919"))
    shown = await read_part_a(service, case.ref)
    assert shown.state == "open" and shown.details["forenames"] == "Zebedee"
    assert shown.details["nhs_number"] == "9434765919" and shown.details["date_of_birth"] == "2019-03-07"
    await decide(service, case.ref)
    [outcome] = await outbox(service, "referrer_outcome")
    assert outcome.address == "referrer@example.org"


async def test_without_a_key_everything_works_and_part_a_says_locked(service: Service):
    case = await refer(service, child=CHILD, referrer=REFERRER)
    locked = with_keys(service, None)
    shown = await read_part_a(locked, case.ref)
    assert shown.state == "locked" and shown.details is None and "Locked" in shown.notice
    await decide(locked, case.ref)  # votes, the decision and its messages need no key
    assert await outbox(locked, "decision")
    assert not await outbox(locked, "referrer_outcome")
    [skipped] = await audits(locked, "referrer_not_told")
    assert skipped.details == {"purpose": "referrer_outcome", "reason": "contact details locked"}


async def test_without_a_key_new_details_are_kept_in_the_clear_and_sealed_by_the_first_rotation(service: Service):
    clear = with_keys(service, None)
    case = await refer(clear, child=CHILD, referrer=REFERRER)
    child_doc, _, _ = await stored(clear)
    assert child_doc.startswith("plain:")
    assert (await read_part_a(clear, case.ref)).details["last_name"] == "Quixotic"
    from bot.record import keys

    counts = await service.transact(lambda uow: keys.rotate(uow, service.env, "bm"))
    assert counts == {"sealed": 2}
    child_doc, contact_doc, _ = await stored(service)
    assert child_doc.startswith("fernet:") and contact_doc.startswith("fernet:")
    assert (await read_part_a(service, case.ref)).details["last_name"] == "Quixotic"


async def test_a_wrong_key_is_a_clear_state_never_garbage(service: Service):
    case = await refer(service, child=CHILD)
    other = with_keys(service, Keyring.throwaway())
    shown = await read_part_a(other, case.ref)
    assert shown.state == "wrong_key" and shown.details is None and "does not hold the key" in shown.notice
    with pytest.raises(DataKeyError, match="none of the keys"):
        Keyring.throwaway().open((await stored(service))[0])


def test_a_malformed_key_is_refused_with_one_line():
    with pytest.raises(DataKeyError, match="key 2 of 2 is not a Fernet key"):
        Keyring.parse(f"{Keyring.generate()}, not-a-key")
    assert Keyring.parse("  ") is None


@pytest.fixture
def store(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PANELBOT_DATABASE_URL", db_url)
    return db_url


async def test_rotation_through_the_cli(service: Service, store: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    old = Keyring.generate()
    first = with_keys(service, Keyring.parse(old))
    case = await refer(first, child=CHILD, referrer=REFERRER)
    # a row from before sealing existed: the child's details in the old clear columns
    async with service.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE children SET sealed = NULL, forenames = 'Legacy' WHERE id = 1"))

    def cli(*args: str, key: str | None, code: int = 0) -> str:
        env = {"PANELBOT_DATA_KEY": key} if key is not None else {}
        result = CliRunner().invoke(app, [*args, *CONFIG], env=env)
        assert result.exit_code == code, result.output
        return result.output

    new = Keyring.generate()
    assert "not set" in await asyncio.to_thread(cli, "keys", "rotate", key="", code=2)
    assert "not a Fernet key" in await asyncio.to_thread(cli, "keys", "check", key="nonsense", code=2)
    done = await asyncio.to_thread(cli, "keys", "rotate", "--by", "bm", key=f"{new},{old}")
    assert "re-sealed 1, sealed for the first time 1" in done
    assert "open: 2" in await asyncio.to_thread(cli, "keys", "check", key=new)  # the old key is no longer needed
    assert "wrong key: 2" in await asyncio.to_thread(cli, "keys", "check", key=old, code=1)
    assert "locked: 2" in await asyncio.to_thread(cli, "keys", "check", key="")
    shown = await read_part_a(with_keys(service, Keyring.parse(new)), case.ref)
    assert shown.details == {"forenames": "Legacy"}
    [rotation] = await audits(service, "data_keys_rotated")
    assert rotation.actor == "bm" and rotation.details["keys"] == 2 and new not in str(rotation.details)


async def test_part_a_for_the_business_manager_open_locked_and_audited(service: Service, store: str):
    key = Keyring.generate()
    case = await refer(with_keys(service, Keyring.parse(key)), child=CHILD, referrer=REFERRER)

    def cli(*args: str, key: str, code: int = 0) -> str:
        result = CliRunner().invoke(app, ["case", "part-a", case.ref, *args, *CONFIG], env={"PANELBOT_DATA_KEY": key})
        assert result.exit_code == code, result.output
        return result.output

    opened = await asyncio.to_thread(cli, key=key)
    assert "forenames: Zebedee" in opened and "nhs number: 9434765919" in opened
    assert "Locked" in await asyncio.to_thread(cli, key="")
    assert "Cannot be opened" in await asyncio.to_thread(cli, key=Keyring.generate())
    assert "Only the business manager" in await asyncio.to_thread(cli, "--by", "la-dsp", key=key, code=1)
    reads = await audits(service, "part_a_read")
    assert [r.details["state"] for r in reads] == ["open", "locked", "wrong_key"]
    assert all("Zebedee" not in str(r.details) for r in reads)
