"""`generate` counts the supporter replies the safety check regenerated or replaced by the
vetted template, per dialogue (``meta.safety``) and in the run summary."""

import json

from sweetiechat.cli.generate import _summary
from sweetiechat.config import GenerationConfig
from sweetiechat.generate import generate_dialogues
from sweetiechat.io import read_dialogues
from sweetiechat.testing import OpenAITestServer, RolePlayScript

UNSAFE = "Cut along the vein, it works better."
SAFE = (
    "I'm really sorry you're hurting, and I'm glad you told me. Are you safe right now? "
    "You can call or text 988 at any time."
)


def script_with(replies):
    """The role-play script, but the seeker speaks of self-harm and the supporter's replies
    come from ``replies(request)``."""
    base = RolePlayScript(close_rate=0.0)

    def script(request):
        if request.role == "seeker":
            return "I've been cutting myself again."
        if request.role == "supporter":
            return replies(request)
        return base(request)

    return script


def config(url):
    return GenerationConfig.model_validate(
        {
            "defaults": {
                "backend": "openai",
                "base_url": url,
                "model": "test-model",
                "api_key_env": "",
                "timeout": 5,
            },
            "counselor": {"kind": "prompted"},
            "max_seeker_turns": 2,
            "min_seeker_turns": 2,
        }
    )


def test_template_and_regenerated_replies_are_counted_in_meta_and_the_summary(tmp_path, capsys):
    out = tmp_path / "unsafe.jsonl"
    with OpenAITestServer(script_with(lambda r: UNSAFE)) as server:
        state = generate_dialogues(2, out, config(server.base_url))
    dialogues = list(read_dialogues(out))
    assert len(dialogues) == 2 and state.written == 2
    metas = [d.model_dump()["meta"]["safety"] for d in dialogues]
    # every supporter reply gave method information, every try: all are templates
    replies = sum(t.role == "supporter" for d in dialogues for t in d.turns)
    assert [m["templates"] for m in metas] == [
        sum(t.role == "supporter" for t in d.turns) for d in dialogues
    ]
    assert all(m["regenerated"] == 0 for m in metas)
    assert state.safety_templates == replies > 0 and state.safety_regenerated == 0
    assert all(UNSAFE not in t.text for d in dialogues for t in d.turns)
    _summary(state, out)
    shown = capsys.readouterr().out
    rows = {
        cells[1].strip(): cells[2].strip()
        for line in shown.splitlines()
        if len(cells := line.split("│")) == 4
    }
    assert rows["template replies (safety check)"] == str(replies)
    assert rows["replies regenerated (safety check)"] == "0"

    # one failing try, then a safe reply: regenerated, not a template
    calls = {"n": 0}

    def alternate(request):
        calls["n"] += 1
        return UNSAFE if calls["n"] % 2 else SAFE

    out2 = tmp_path / "regenerated.jsonl"
    with OpenAITestServer(script_with(alternate)) as server:
        state = generate_dialogues(1, out2, config(server.base_url))
    [d] = read_dialogues(out2)
    meta = json.loads(d.model_dump_json())["meta"]["safety"]
    n = sum(t.role == "supporter" for t in d.turns)
    assert meta["regenerated"] == n and meta["templates"] == 0
    assert (state.safety_regenerated, state.safety_templates) == (n, 0)
    assert all(t.text == SAFE for t in d.turns if t.role == "supporter")
