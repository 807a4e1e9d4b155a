"""The embedded SmolLM2 as a judge: it scores the labels, so it always answers (real
weights, CPU)."""

from __future__ import annotations

import asyncio

import pytest

from sweetiechat.backends.scoring import LikelihoodChooser
from sweetiechat.config import RoleConfig
from sweetiechat.eval.judge import ajudge_pairs, read_judgments
from sweetiechat.eval.judge_dims import dimension
from sweetiechat.eval.judge_models import build_judges, judge_name
from sweetiechat.eval.pairs import PairItem
from sweetiechat.types import Turn

pytestmark = pytest.mark.slow


def test_the_embedded_judge_scores_a_b_and_tie(tmp_path):
    judges = build_judges([RoleConfig(backend="embedded")])
    name = judge_name(RoleConfig(backend="embedded"))
    assert isinstance(judges.backends[name], LikelihoodChooser)
    item = PairItem(
        id="d:1",
        context=(Turn(role="seeker", text="I lost my job today and I feel worthless."),),
        response_a="I'm so sorry. Losing a job is painful; what happened?",
        response_b="ok",
        source_a="a",
        source_b="b",
    )
    dims = [dimension("Empathy"), dimension("Overall")]
    state = asyncio.run(ajudge_pairs([item], judges.backends, tmp_path, runs=2, dimensions=dims))
    judgments = read_judgments(tmp_path)
    assert state.written == len(judgments) == 4 and state.missing == 0
    for j in judgments:
        assert j.answer in ("A", "B", "tie") and j.winner is not None
        assert j.probabilities is not None and set(j.probabilities) == {"A", "B", "tie"}
        assert sum(j.probabilities.values()) == pytest.approx(1.0)
        assert j.answer == max(j.probabilities, key=j.probabilities.__getitem__)
