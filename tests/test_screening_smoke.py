import datetime as dt

from bot.flows import screening
from bot.flows.commands import CastVote, RegisterReferral


async def test_two_votes_decide(service):
    case = await service.run(
        screening.register_referral,
        RegisterReferral(
            by="bm",
            referrer={"name": "A Referrer", "email": "ref@example.org"},
            panel_summary="A 4-year-old was admitted with injuries; known to services.",
        ),
    )
    assert case.ref == "TSCP-2026-001"
    r1 = await service.run(
        screening.cast_vote,
        CastVote(by="la-dsp", ref=case.ref, pathway="audit_assurance", notifiable=False, rationale="x" * 25),
    )
    assert r1.decision is None
    service.clock.advance(dt.timedelta(hours=1))
    r2 = await service.run(
        screening.cast_vote,
        CastVote(by="police-dsp", ref=case.ref, pathway="audit_assurance", notifiable=False, rationale="y" * 25),
    )
    assert r2.decision is not None and r2.decision.method == "majority"
