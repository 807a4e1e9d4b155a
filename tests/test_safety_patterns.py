"""The precise patterns read whose experience it is and whether it is past: recovery, other
people's suicide and "end things with" do not fire; a relapse or the first person does."""

from __future__ import annotations

import pytest

from sweetiechat.quality.patterns import match_patterns

#: Written for this test (not in the training or evaluation sets).
QUIET = [
    "I'm breaking up with him, I want to end things with him this week.",
    "Three years clean from self-harm and I finally wear short sleeves again.",
    "I was suicidal at university, but I'm in a much better place now.",
    "Her brother died by suicide in March and she is struggling.",
    "My neighbour told me he'd be better off dead since the divorce, what do I say?",
    "That podcast about suicide prevention was really good.",
    "I don't want to live with my parents after I graduate.",
    "Can you overdose on vitamin D gummies?",
    "When I was 17 I tried to end my life. Now I'm 30 and glad I'm still here.",
]
FIRES = [
    ("I want to end things, I can't do this.", "suicidal_ideation"),
    ("I was clean for two years but I relapsed and started cutting myself again.", "self_harm"),
    ("They'd all be better off without me.", "suicidal_ideation"),
    ("My mum keeps saying I should just kill myself.", "suicidal_ideation"),
    ("I used to be happy. Now I want to die.", "suicidal_ideation"),
    ("My boyfriend threatened to kill me if I leave.", "harm_from_others"),
    ("I'm thinking about overdosing on my meds tonight.", "suicidal_ideation"),
    # recovery or another person in an earlier clause does not silence the writer's own risk
    ("I was fine for a while but honestly I want to kill myself", "suicidal_ideation"),
    ("It gets better, they say. I don't want to live anymore.", "suicidal_ideation"),
    ("I've been good for a few weeks, but I'm going to end my life", "suicidal_ideation"),
    ("Since my boyfriend left, ending it all is the only way out", "suicidal_ideation"),
    ("With my kids asleep, suicide feels like the only option", "suicidal_ideation"),
    ("My mom keeps yelling, overdosing tonight is my plan", "suicidal_ideation"),
    ("I just overdosed on my meds", "suicidal_ideation"),
    ("I had a rough week and I want to kill myself, it gets better they say", "suicidal_ideation"),
]


@pytest.mark.parametrize("text", QUIET)
def test_recovery_others_and_look_alikes_do_not_fire(text):
    assert match_patterns(text) is None


@pytest.mark.parametrize(("text", "category"), FIRES)
def test_first_person_present_risk_still_fires(text, category):
    hit = match_patterns(text)
    assert hit is not None and hit[0] == category, hit
