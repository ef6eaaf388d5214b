"""The counting rules, as pure functions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.config import DecisionRule
from bot.flows.screening.tally import Ballot, Deadlock, Outcome, Pathway, tally

AGENCIES = ["la", "police", "health"]
RR, AA, NFA, Q = Pathway.RAPID_REVIEW, Pathway.AUDIT_ASSURANCE, Pathway.NO_FURTHER_ACTION, Pathway.QUERY_REFERRER


def b(agency: str, pathway: Pathway, notifiable: bool = False) -> Ballot:
    return Ballot(agency, pathway, notifiable)


def test_majority_needs_two_agreeing_agencies():
    assert tally([b("la", RR, True)], AGENCIES, DecisionRule.MAJORITY) is None
    outcome = tally([b("la", RR, True), b("health", RR, True)], AGENCIES, DecisionRule.MAJORITY)
    assert outcome == Outcome(RR, True, "majority", ("health", "la"))


def test_all_three_agreeing_is_recorded_as_unanimous():
    outcome = tally([b("la", AA), b("police", AA), b("health", AA)], AGENCIES, DecisionRule.MAJORITY)
    assert isinstance(outcome, Outcome) and outcome.method == "unanimous"


def test_one_one_one_is_a_deadlock_under_majority():
    assert isinstance(
        tally([b("la", RR), b("police", AA), b("health", NFA)], AGENCIES, DecisionRule.MAJORITY), Deadlock
    )


def test_votes_from_unknown_agencies_do_not_count():
    assert tally([b("la", RR), b("probation", RR)], AGENCIES, DecisionRule.MAJORITY) is None


def test_unanimous_rule_waits_for_all_and_deadlocks_on_any_difference():
    assert tally([b("la", NFA), b("police", NFA)], AGENCIES, DecisionRule.UNANIMOUS) is None
    assert isinstance(tally([b("la", NFA), b("police", AA)], AGENCIES, DecisionRule.UNANIMOUS), Deadlock)
    assert isinstance(tally([b("la", NFA), b("police", NFA, True)], AGENCIES, DecisionRule.UNANIMOUS), Deadlock)
    outcome = tally([b("la", NFA), b("police", NFA), b("health", NFA)], AGENCIES, DecisionRule.UNANIMOUS)
    assert outcome == Outcome(NFA, False, "unanimous", ("health", "la", "police"))


def test_la_final_say_settles_a_split():
    split = [b("la", Q, True), b("police", AA), b("health", NFA)]
    assert tally(split, AGENCIES, DecisionRule.LA_FINAL_SAY) == Outcome(Q, True, "la_final_say", ("la",))
    majority = [b("la", Q), b("police", AA), b("health", AA)]
    assert tally(majority, AGENCIES, DecisionRule.LA_FINAL_SAY).method == "majority"


ballots = st.lists(
    st.tuples(st.sampled_from(AGENCIES), st.sampled_from(list(Pathway)), st.booleans()),
    max_size=3,
    unique_by=lambda t: t[0],
).map(lambda rows: [Ballot(*r) for r in rows])


@given(ballots)
def test_a_majority_outcome_always_has_two_agencies_behind_its_pathway(votes):
    outcome = tally(votes, AGENCIES, DecisionRule.MAJORITY)
    if isinstance(outcome, Outcome):
        behind = [v for v in votes if v.pathway == outcome.pathway]
        assert len(behind) >= 2
        assert sum(v.notifiable == outcome.notifiable for v in votes) >= 2
    elif outcome is None:
        assert len(votes) < 3  # with all three in, majority rule always decides or deadlocks
