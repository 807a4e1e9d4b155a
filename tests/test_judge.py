"""The LLM judge as a library: pairs, agreement statistics, and judging against the real
test server through the real langchain-openai client."""

from __future__ import annotations

import asyncio
import json
import math
import re

import pytest
from langchain_openai import ChatOpenAI
from openai import DefaultAsyncHttpxClient
from pydantic import SecretStr

from sweetiechat.errors import UserError
from sweetiechat.eval.agreement import (
    binomial_p,
    category_table,
    cohen_kappa,
    fleiss_kappa,
    position_bias,
    win_tie_loss,
)
from sweetiechat.eval.judge import (
    JUDGE_SYSTEM,
    ajudge_pairs,
    order_for,
    parse_pairwise,
    read_judgments,
    undo_order,
)
from sweetiechat.eval.judge_dataset import DATASET_SYSTEM, ajudge_dataset, read_ratings
from sweetiechat.eval.judge_dims import DATASET_DIMENSIONS, DIMENSIONS, dimension
from sweetiechat.eval.judge_summary import summarize_pairwise, summarize_ratings
from sweetiechat.eval.pairs import load_pairs
from sweetiechat.io import write_dialogues
from sweetiechat.testing import OpenAITestServer
from sweetiechat.testing.script import JUDGE_MARKERS
from sweetiechat.types import Dialogue, Turn

# ---------------------------------------------------------------- agreement statistics


def test_fleiss_kappa_matches_the_textbook_example():
    # Fleiss (1971) as worked in Wikipedia's "Fleiss' kappa": 10 subjects, 14 raters,
    # 5 categories; P_bar = 0.378, P_e = 0.213, kappa = 0.210.
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=5e-5)
    assert fleiss_kappa([[3, 0], [0, 3], [3, 0]]) == 1.0  # full agreement
    assert fleiss_kappa([[1, 1], [1, 1]]) == pytest.approx(-1.0)  # every pair disagrees
    assert math.isnan(fleiss_kappa([]))
    with pytest.raises(ValueError, match="same number of ratings"):
        fleiss_kappa([[2, 0], [1, 0]])
    ratings = [["a", "a", "b"], ["tie", "tie", "tie"]]
    assert category_table(ratings, ["a", "b", "tie"]) == [[2, 1, 0], [0, 0, 3]]


def test_cohen_kappa_and_the_binomial_test_match_textbook_values():
    # Wikipedia's "Cohen's kappa" example: 50 proposals, 20 yes/yes, 5 yes/no, 10 no/yes,
    # 15 no/no: p_o = 0.7, p_e = 0.5, kappa = 0.4.
    first = ["y"] * 25 + ["n"] * 25
    second = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)
    assert binomial_p(9, 10) == pytest.approx(22 / 1024)  # (1 + 10 + 10 + 1) / 2^10
    assert binomial_p(5, 10) == pytest.approx(1.0)
    assert win_tie_loss(["a", "b", "tie", None, "a"]).as_dict() == {
        "win": 2, "tie": 1, "loss": 1, "missing": 1,
    }  # fmt: skip
    bias = position_bias(["A", "A", "A", "B", "tie", None])
    assert (bias.first, bias.second, bias.tie, bias.missing) == (3, 1, 1, 1)
    assert bias.first_share == 0.75


def test_order_is_seeded_per_item_and_run_and_undone():
    orders = [order_for(0, 1, f"d:{i}") for i in range(200)]
    assert 70 < orders.count("AB") < 130  # about half each way
    assert orders == [order_for(0, 1, f"d:{i}") for i in range(200)]  # reproducible
    assert orders != [order_for(0, 2, f"d:{i}") for i in range(200)]  # a new draw per run
    assert undo_order("A", "AB") == "a" and undo_order("A", "BA") == "b"
    assert undo_order("B", "BA") == "a" and undo_order("tie", "BA") == "tie"
    assert parse_pairwise("**Response B** is warmer") == "B"
    assert parse_pairwise("Tie.") == "tie"
    assert parse_pairwise("Both are fine, hard to say") is None
    assert dimension("overall").name == "Overall quality" and len(DIMENSIONS) == 7
    assert JUDGE_SYSTEM.startswith(JUDGE_MARKERS[0])  # the test server knows the judge
    assert DATASET_SYSTEM.startswith(JUDGE_MARKERS[1])


# ---------------------------------------------------------------- pairs


def _dialogue(did: str, replies: list[str], seeker: str = "I feel low") -> Dialogue:
    turns = []
    for i, reply in enumerate(replies):
        turns += [Turn(role="seeker", text=f"{seeker} {i}."), Turn(role="supporter", text=reply)]
    return Dialogue(id=did, problem_type="Burnout", turns=turns)


def _generations(path, dialogues, response, modes=("reference",), seeds=(0,)):
    lines = []
    for mode in modes:
        for seed in seeds:
            for d in dialogues:
                for i, t in enumerate(d.turns):
                    if t.role != "supporter":
                        continue
                    lines.append({
                        "id": f"{d.id}:{i}", "dialogue_id": d.id, "turn": i, "mode": mode,
                        "seed": seed, "system": "s", "reference": t.text,
                        "context": [c.model_dump(mode="json") for c in d.turns[:i]],
                        "response": response(d.id, i, seed), "strategy": None,
                    })  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


@pytest.fixture
def systems(tmp_path):
    """Reference dialogues (system A) and agent-eval generations (system B) for them."""
    dialogues = [_dialogue(f"d{k}", [f"GOOD reply {k}.{j}" for j in range(3)]) for k in range(4)]
    a = tmp_path / "ref.jsonl"
    write_dialogues(a, dialogues)
    b = _generations(tmp_path / "gen.jsonl", dialogues, lambda d, i, s: f"meh {d} {i}")
    return a, b, dialogues


def test_pairs_line_up_generations_with_dialogues_and_generations(systems, tmp_path):
    a, b, dialogues = systems
    pairs = load_pairs(a, b)
    assert len(pairs) == 12 and pairs[0].id == "d0:1"
    assert pairs[0].response_a == "GOOD reply 0.0" and pairs[0].response_b == "meh d0 1"
    assert [t.text for t in pairs[1].context] == [
        "I feel low 0.",
        "GOOD reply 0.0",
        "I feel low 1.",
    ]
    # a generations file of several modes and seeds: one of each is chosen
    c = _generations(
        tmp_path / "c.jsonl", dialogues, lambda d, i, s: f"seed {s}", ("reference", "generated"),
        (0, 1),
    )  # fmt: skip
    with pytest.raises(UserError, match="seeds 0, 1; choose one"):
        load_pairs(b, c)
    pairs = load_pairs(b, c, seed_b=1)
    assert {p.response_b for p in pairs} == {"seed 1"}
    with pytest.raises(UserError, match="no responses of seed 7"):
        load_pairs(b, c, seed_b=7)
    with pytest.raises(UserError, match="holds no 'generated' responses"):
        load_pairs(b, c, mode="generated", seed_b=0)


def test_pairs_refuse_contexts_that_do_not_line_up(systems, tmp_path):
    a, b, dialogues = systems
    other = [_dialogue(d.id, [t.text for t in d.turns if t.role == "supporter"], "Other")
             for d in dialogues]  # fmt: skip
    c = tmp_path / "other.jsonl"
    write_dialogues(c, other)
    with pytest.raises(UserError, match="the contexts of item 'd0:1' differ"):
        load_pairs(c, b)
    fewer = _generations(tmp_path / "fewer.jsonl", dialogues[:2], lambda d, i, s: "x")
    with pytest.raises(UserError, match=r"12 items .* has 6; 6 are only in A"):
        load_pairs(b, fewer)
    elsewhere = [_dialogue("zz", ["hello"])]
    z = _generations(tmp_path / "z.jsonl", elsewhere, lambda d, i, s: "x")
    with pytest.raises(UserError, match=r"item 'zz:1' .* is not a supporter turn of"):
        load_pairs(a, z)


@pytest.mark.parametrize(
    "content, expect",
    [
        (b"", "file is empty"),
        (b"\n\n", "file is empty"),
        (b'{"id": "d0:1", "context": [], "response": "x"}\n{oops\n', ":2: not valid JSON"),
        (b'{"id": "d0:1", "context": [{"role": "robot", "text": "x"}], "response": "x"}\n',
         ":1: field 'context.0.role'"),
        (b'{"id": "a", "problem_type": "Burnout", "turns": []}\n', "holds no supporter responses"),
    ],
)  # fmt: skip
def test_bad_files_give_one_located_error(systems, tmp_path, content, expect):
    a, _, _ = systems
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content)
    with pytest.raises(UserError, match=re.escape(expect)) as err:
        load_pairs(a, bad)
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------- judging on the test server


def _pair_of(user: str) -> tuple[str, str]:
    first = re.search(r"^Response A: (.*)$", user, re.M)
    second = re.search(r"^Response B: (.*)$", user, re.M)
    assert first and second
    return first.group(1), second.group(1)


def judge_script(request):
    """Per judge (the model name): 'fair' prefers the response saying GOOD wherever it is
    shown; 'first' always answers A; 'garbage' never names an option; 'rater' rates 4."""
    model = request.body["model"]
    if request.system.startswith(JUDGE_MARKERS[1]):
        return "garbage, really" if model == "garbage" else "Rating: 4"
    if model == "first":
        return "A"
    if model == "garbage":
        return "Both replies have their merits, hard to say."
    first, second = _pair_of(request.user)
    return "Response A" if "GOOD" in first else ("B" if "GOOD" in second else "tie")


def _judges(server, *names):
    """Real langchain-openai clients, each with its own HTTP pool (langchain's shared one is
    bound to the first event loop, and every test run makes a new loop)."""
    return {
        n: ChatOpenAI(
            base_url=server.base_url, api_key=SecretStr("x"), model=n, temperature=0,
            max_retries=0, http_async_client=DefaultAsyncHttpxClient(),
        )
        for n in names
    }  # fmt: skip


def _judge(items, judges, out, **kw):
    return asyncio.run(ajudge_pairs(items, judges, out, **kw))


def test_order_is_randomised_recorded_and_undone(systems, tmp_path):
    a, b, _ = systems
    items = load_pairs(a, b)
    with OpenAITestServer(script=judge_script) as server:
        state = _judge(items, _judges(server, "fair"), tmp_path / "out", runs=1, seed=3)
    judgments = read_judgments(tmp_path / "out")
    assert state.written == len(judgments) == 12 * 7
    orders = {j.item: j.order for j in judgments}
    assert set(orders.values()) == {"AB", "BA"}  # both orders occur
    assert all(j.order == orders[j.item] for j in judgments)  # one order per item and run
    assert all(j.order == order_for(3, 1, j.item) for j in judgments)
    # the judge saw A's GOOD response first or second as recorded, and the winner undoes it
    assert all(j.answer == ("A" if j.order == "AB" else "B") for j in judgments)
    assert {j.winner for j in judgments} == {"a"}
    summary = summarize_pairwise(judgments, [d.name for d in DIMENSIONS])
    assert summary["win_tie_loss"]["fair"]["Empathy"] == {
        "win": 12, "tie": 0, "loss": 0, "missing": 0,
    }  # fmt: skip
    share = sum(o == "AB" for o in orders.values()) / 12
    assert summary["position_bias"]["fair"]["all"]["first_share"] == pytest.approx(share)


def test_position_bias_of_a_judge_that_always_picks_the_first(systems, tmp_path):
    a, b, _ = systems
    items = load_pairs(a, b)
    with OpenAITestServer(script=judge_script) as server:
        _judge(items, _judges(server, "first"), tmp_path / "out", runs=2)
    judgments = read_judgments(tmp_path / "out")
    summary = summarize_pairwise(judgments, [d.name for d in DIMENSIONS])
    bias = summary["position_bias"]["first"]["all"]
    assert bias["first_share"] == 1.0 and bias["first"] == 2 * 12 * 7
    assert bias["p_value"] < 1e-6
    wtl = summary["win_tie_loss"]["first"]["Helpfulness"]
    assert wtl["win"] > 0 and wtl["loss"] > 0  # the "preference" follows the order shown
    # a new order per run: the position-biased judge disagrees with itself where it changed
    changed = sum(order_for(0, 1, i.id) != order_for(0, 2, i.id) for i in items)
    agreement = summary["self_agreement"]["first"]["all"]["1-2"]
    assert agreement["n"] == 12 * 7
    assert agreement["agreement"] == pytest.approx(1 - changed / 12)


def test_a_judge_answering_garbage_is_retried_then_missing_never_tie(systems, tmp_path):
    a, b, _ = systems
    items = load_pairs(a, b)[:2]
    with OpenAITestServer(script=judge_script) as server:
        state = _judge(items, _judges(server, "garbage"), tmp_path / "out", attempts=3)
        calls = sum(server.calls.values())
    judgments = read_judgments(tmp_path / "out")
    assert len(judgments) == 2 * 7 and state.missing == 2 * 7
    assert calls == 3 * 2 * 7  # every question asked three times
    assert all(j.answer is None and j.winner is None for j in judgments)
    assert all("no option" in j.reason for j in judgments)
    summary = summarize_pairwise(judgments, [d.name for d in DIMENSIONS])
    assert summary["win_tie_loss"]["garbage"]["Coherence"] == {
        "win": 0, "tie": 0, "loss": 0, "missing": 2,
    }  # fmt: skip
    # a rerun does not ask again what is recorded (missing included)
    with OpenAITestServer(script=judge_script) as server:
        again = _judge(items, _judges(server, "garbage"), tmp_path / "out")
        assert sum(server.calls.values()) == 0 and again.written == 0


def test_several_judges_give_fleiss_kappa_and_self_agreement(systems, tmp_path):
    a, b, _ = systems
    items = load_pairs(a, b)[:4]
    with OpenAITestServer(script=judge_script) as server:
        _judge(items, _judges(server, "fair", "first"), tmp_path / "out", runs=2)
        _judge(items, _judges(server, "fair2"), tmp_path / "out", runs=2)  # added later
    judgments = read_judgments(tmp_path / "out")
    summary = summarize_pairwise(judgments, [d.name for d in DIMENSIONS])
    assert summary["judges"] == ["fair", "fair2", "first"]
    # the kappa from the judgments themselves, for run 1
    by_question: dict[tuple[str, str], list[str]] = {}
    for j in judgments:
        if j.run == 1:
            by_question.setdefault((j.item, j.dimension), []).append(j.winner)
    expected = fleiss_kappa(category_table(list(by_question.values()), ["a", "tie", "b"]))
    assert summary["fleiss_kappa"]["1"]["all"]["kappa"] == pytest.approx(expected)
    assert summary["fleiss_kappa"]["1"]["all"]["n"] == 4 * 7
    assert expected < 1.0  # the position-biased judge disagrees with the fair ones
    assert summary["self_agreement"]["fair"]["all"]["1-2"]["kappa"] in (1.0, pytest.approx(1.0))


def test_interrupted_judging_resumes_without_duplicates(systems, tmp_path):
    a, b, _ = systems
    items = load_pairs(a, b)[:3]
    out = tmp_path / "out"
    with OpenAITestServer(script=judge_script) as server:
        _judge(items[:2], _judges(server, "fair"), out)
        path = out / "judgments.jsonl"
        path.write_bytes(path.read_bytes() + b'{"item": "d0:3", "judge": "fa')  # torn write
        state = _judge(items, _judges(server, "fair"), out)
    assert state.done == 2 * 7 and state.written == 7
    judgments = read_judgments(out)
    keys = [(j.item, j.judge, j.run, j.dimension) for j in judgments]
    assert len(keys) == len(set(keys)) == 3 * 7


def test_a_failing_server_records_nothing_for_the_failed_questions(systems, tmp_path):
    a, b, _ = systems
    items = load_pairs(a, b)[:1]
    from sweetiechat.backends import LangChainBackend

    with OpenAITestServer(script=judge_script) as server:
        judges = _judges(server, "fair")
        server.stop()  # the server goes away: every call raises
        state = _judge(items, {"fair": LangChainBackend(judges["fair"])}, tmp_path / "out")
    assert len(state.failures) == 7 and state.written == 0
    assert read_judgments(tmp_path / "out") == []


def test_dataset_ratings_on_the_test_server(tmp_path):
    dialogues = [_dialogue(f"d{k}", ["I hear you.", "Try a walk."]) for k in range(3)]
    with OpenAITestServer(script=judge_script) as server:
        state = asyncio.run(
            ajudge_dataset(dialogues, _judges(server, "rater", "garbage"), tmp_path, runs=2)
        )
    ratings = read_ratings(tmp_path)
    assert state.written == len(ratings) == 2 * 3 * 7 * 2
    summary = summarize_ratings(ratings, [d.name for d in DATASET_DIMENSIONS])
    safety = summary["ratings"]["rater"]["Safety"]
    assert safety["mean"] == 4.0 and safety["n"] == 6 and safety["counts"]["4"] == 6
    assert summary["ratings"]["garbage"]["Safety"] == {
        "n": 0, "mean": None, "sd": None, "counts": {str(k): 0 for k in range(1, 6)},
        "missing": 6,
    } or math.isnan(summary["ratings"]["garbage"]["Safety"]["mean"])  # fmt: skip
    assert all(r.rating is None for r in ratings if r.judge == "garbage")
    assert summary["self_agreement"]["rater"]["1-2"]["agreement"] == 1.0
    assert summary["fleiss_kappa"]["1"]["n"] == 0  # no question both judges answered


def test_a_second_invocation_compared_with_the_first_gives_self_agreement(systems, tmp_path):
    from sweetiechat.eval.judge_summary import compare_judgments

    a, b, _ = systems
    items = load_pairs(a, b)[:4]
    with OpenAITestServer(script=judge_script) as server:
        _judge(items, _judges(server, "first"), tmp_path / "one", seed=1)
        _judge(items, _judges(server, "first"), tmp_path / "two", seed=2)
    result = compare_judgments(
        read_judgments(tmp_path / "one"), read_judgments(tmp_path / "two"),
        [d.name for d in DIMENSIONS],
    )  # fmt: skip
    same = sum(order_for(1, 1, i.id) == order_for(2, 1, i.id) for i in items)
    assert result["all"]["n"] == 4 * 7
    assert result["all"]["agreement"] == pytest.approx(same / 4)
    assert result["Empathy"]["n"] == 4


def test_generations_of_merged_dialogues_line_up_with_the_raw_file(tmp_path):
    from sweetiechat.normalize import normalise

    turns = [
        Turn(role="seeker", text="Hi."), Turn(role="seeker", text="I lost my job."),
        Turn(role="supporter", text="I'm sorry."), Turn(role="supporter", text="What happened?"),
        Turn(role="seeker", text="They closed the shop."), Turn(role="supporter", text="Oh no."),
    ]  # fmt: skip
    raw = Dialogue(id="m", problem_type="Job crisis", turns=turns)
    a = tmp_path / "raw.jsonl"
    write_dialogues(a, [raw])
    merged = normalise(raw, merge_consecutive=True, drop_greetings=False)
    b = _generations(tmp_path / "gen.jsonl", [merged], lambda d, i, s: "reply")
    pairs = load_pairs(a, b)
    assert [p.id for p in pairs] == ["m:1", "m:3"]
    assert pairs[0].response_a == "I'm sorry. What happened?"
