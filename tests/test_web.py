"""The web app for human evaluation, over HTTP against a real uvicorn server on 127.0.0.1."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from sweetiechat.errors import UserError  # noqa: E402
from sweetiechat.web.app import create_app  # noqa: E402
from sweetiechat.web.dims import DATASET_DIMENSIONS, PAIRWISE_DIMENSIONS  # noqa: E402
from sweetiechat.web.loading import (  # noqa: E402
    import_judgments,
    load_dataset_file,
    load_pair_files,
)
from sweetiechat.web.store import Store  # noqa: E402
from sweetiechat.web.testing import running_server, write_demo_pairs  # noqa: E402

XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
ADMIN = "admin-secret-token"


@pytest.fixture
def setup(tmp_path):
    store = Store(tmp_path / "eval.sqlite")
    a, b = write_demo_pairs(tmp_path / "in", 4)
    task = load_pair_files(store, a, b, "demo")
    app = create_app(store, admin_token=ADMIN)
    with running_server(app) as url:
        yield store, task, url, (a, b)


def _form(page: str) -> dict[str, str]:
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    item = re.search(r'name="item" value="(\d+)"', page)
    return {"csrf": csrf.group(1) if csrf else "", "item": item.group(1) if item else ""}


def _answers(choice: str = "A") -> dict[str, str]:
    return {f"dim-{i}": choice for i in range(len(PAIRWISE_DIMENSIONS))}


def _count(store: Store, table: str = "answers") -> int:
    return int(store.rows(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])


def test_an_annotator_answers_resumes_and_double_submits_harmlessly(setup):
    store, task, url, _ = setup
    alice = store.add_annotator("alice")
    with httpx.Client(base_url=url, follow_redirects=True) as client:
        page = client.get(f"/annotate/{alice.token}/task/{task}").text
        assert "item 1 of 4" in page
        form = {**_form(page), **_answers("A")}
        after = client.post(f"/annotate/{alice.token}/task/{task}", data=form)
        assert after.status_code == 200 and "item 2 of 4" in after.text
        again = client.post(f"/annotate/{alice.token}/task/{task}", data=form)  # double submit
        assert again.status_code == 200 and "item 2 of 4" in again.text
    assert _count(store) == len(PAIRWISE_DIMENSIONS)
    rows = store.rows("SELECT ord, answer, winner FROM answers")
    shown = store.rows("SELECT swapped FROM shown WHERE item_id = ?", (int(form["item"]),))
    # The order shown was recorded, and the winner undoes it: "A" (the left response) is
    # system b when the order was swapped.
    expected = ("BA", "b") if shown[0]["swapped"] else ("AB", "a")
    assert {(r["ord"], r["winner"]) for r in rows} == {expected}
    assert {r["answer"] for r in rows} == {"A"}
    # A new connection (a new day) resumes at the first unanswered item, in the same order.
    with httpx.Client(base_url=url) as client:
        assert "item 2 of 4" in client.get(f"/annotate/{alice.token}/task/{task}").text


def test_annotators_never_see_each_others_answers(setup):
    store, task, url, _ = setup
    alice, bob = store.add_annotator("alice"), store.add_annotator("bob")
    with httpx.Client(base_url=url, follow_redirects=True) as client:
        page = client.get(f"/annotate/{alice.token}/task/{task}").text
        client.post(f"/annotate/{alice.token}/task/{task}", data={**_form(page), **_answers()})
        bob_page = client.get(f"/annotate/{bob.token}/task/{task}").text
        assert "item 1 of 4" in bob_page and "checked" not in bob_page
        assert "alice" not in bob_page
        # Bob cannot submit with Alice's form (her CSRF token is bound to her link).
        stolen = client.post(
            f"/annotate/{bob.token}/task/{task}", data={**_form(page), **_answers("B")}
        )
        assert stolen.status_code == 403
    assert _count(store) == len(PAIRWISE_DIMENSIONS)


def test_unknown_token_missing_csrf_and_cross_site_posts_are_refused(setup):
    store, task, url, _ = setup
    alice = store.add_annotator("alice")
    with httpx.Client(base_url=url) as client:
        assert client.get("/annotate/not-a-token").status_code == 403
        assert client.get(f"/annotate/not-a-token/task/{task}").status_code == 403
        assert client.post(f"/annotate/not-a-token/task/{task}", data=_answers()).status_code == 403
        page = client.get(f"/annotate/{alice.token}/task/{task}").text
        form = {**_form(page), **_answers()}
        assert (
            client.post(
                f"/annotate/{alice.token}/task/{task}", data={**form, "csrf": "forged"}
            ).status_code
            == 403
        )
        cross = client.post(
            f"/annotate/{alice.token}/task/{task}", data=form,
            headers={"Origin": "https://evil.example"},
        )  # fmt: skip
        assert cross.status_code == 403
        assert client.get("/admin").status_code == 403
        assert client.get("/admin", params={"token": "wrong"}).status_code == 403
        assert client.get("/admin/export.jsonl").status_code == 403
    assert _count(store) == 0


def test_a_half_filled_form_saves_nothing(setup):
    store, task, url, _ = setup
    alice = store.add_annotator("alice")
    with httpx.Client(base_url=url) as client:
        page = client.get(f"/annotate/{alice.token}/task/{task}").text
        partial = {**_form(page), **_answers()}
        del partial["dim-6"]
        response = client.post(f"/annotate/{alice.token}/task/{task}", data=partial)
    assert response.status_code == 400 and "Overall quality" in response.text
    assert _count(store) == 0


def test_model_written_text_is_escaped(tmp_path):
    store = Store(tmp_path / "eval.sqlite")
    a, b = write_demo_pairs(tmp_path / "in", 1, seeker_text=XSS)
    task = load_pair_files(store, a, b, "xss")
    alice = store.add_annotator("alice")
    with running_server(create_app(store, admin_token=ADMIN)) as url:
        response = httpx.get(f"{url}/annotate/{alice.token}/task/{task}")
    assert "<script>window.__xss" not in response.text
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in response.text
    assert "script-src 'self'" in response.headers["content-security-policy"]


def test_concurrent_annotators_lose_and_duplicate_nothing(tmp_path):
    store = Store(tmp_path / "eval.sqlite")
    a, b = write_demo_pairs(tmp_path / "in", 5)
    task = load_pair_files(store, a, b, "load")
    people = [store.add_annotator(f"p{i}") for i in range(12)]

    def annotate(token: str) -> int:
        with httpx.Client(base_url=url, timeout=60) as client:
            for _ in range(5):
                page = client.get(f"/annotate/{token}/task/{task}").text
                form = {**_form(page), **_answers("tie")}
                for _ in range(2):  # every form is sent twice
                    r = client.post(f"/annotate/{token}/task/{task}", data=form)
                    assert r.status_code == 303, r.text
            return 5

    app = create_app(store, admin_token=ADMIN)
    with running_server(app) as url, ThreadPoolExecutor(12) as pool:
        assert sum(pool.map(annotate, [p.token for p in people])) == 60
    n_dims = len(PAIRWISE_DIMENSIONS)
    assert _count(store) == 12 * 5 * n_dims
    per = store.rows(
        "SELECT annotator_id, item_id, COUNT(*) AS n FROM answers GROUP BY annotator_id, item_id"
    )
    assert len(per) == 60 and {r["n"] for r in per} == {n_dims}


def test_dataset_rating_task(tmp_path):
    store = Store(tmp_path / "eval.sqlite")
    a, _ = write_demo_pairs(tmp_path / "in", 2)
    task = load_dataset_file(store, a, "rate")
    alice = store.add_annotator("alice")
    app = create_app(store, admin_token=ADMIN)
    with running_server(app) as url, httpx.Client(base_url=url, follow_redirects=True) as client:
        page = client.get(f"/annotate/{alice.token}/task/{task}").text
        assert "dialogue 1 of 2" in page and "Rationality" in page
        ratings = {f"dim-{i}": str(i % 5 + 1) for i in range(len(DATASET_DIMENSIONS))}
        nxt = client.post(f"/annotate/{alice.token}/task/{task}", data={**_form(page), **ratings})
        assert "dialogue 2 of 2" in nxt.text
        bad = client.post(
            f"/annotate/{alice.token}/task/{task}",
            data={**_form(nxt.text), **ratings, "dim-0": "9"},
        )  # fmt: skip
        assert bad.status_code == 400
    rows = store.rows("SELECT dimension, rating FROM ratings ORDER BY id")
    assert [r["rating"] for r in rows] == [i % 5 + 1 for i in range(len(DATASET_DIMENSIONS))]
    from sweetiechat.web.results import plot_task, task_results

    res = task_results(store, task)
    assert res.mean_rating[DATASET_DIMENSIONS[0]] == 1 and res.answered_items == 1
    assert plot_task(store, task, tmp_path / "ratings.png").stat().st_size > 1000


def test_admin_uploads_results_judge_agreement_and_export(setup, tmp_path):
    store, task, url, (a, b) = setup
    people = [store.add_annotator(n) for n in ("alice", "bob", "carol")]
    with httpx.Client(base_url=url, follow_redirects=True, timeout=120) as client:
        for who, choice in zip(people, ("A", "A", "tie"), strict=True):
            for _ in range(4):
                page = client.get(f"/annotate/{who.token}/task/{task}").text
                item = store.rows(
                    "SELECT swapped FROM shown WHERE item_id = ? AND annotator_id = ?",
                    (int(_form(page)["item"]), who.id),
                )[0]
                # Everybody prefers system a, whichever side it is shown on (bob and alice),
                # carol always says tie.
                pick = choice if choice == "tie" else ("B" if item["swapped"] else "A")
                client.post(f"/annotate/{who.token}/task/{task}",
                            data={**_form(page), **_answers(pick)})  # fmt: skip
        assert client.get("/admin", params={"token": ADMIN}).status_code == 200
        admin = client.get("/admin").text
        csrf = _form(admin)["csrf"]
        # A malformed upload: a clear error, and no task is half-saved.
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"id": "x", "turns": [}\n')
        with a.open("rb") as fa, bad.open("rb") as fb:
            r = client.post("/admin/pairs", data={"csrf": csrf, "name": "broken"},
                            files={"a": ("a.jsonl", fa), "b": ("bad.jsonl", fb)})  # fmt: skip
        assert r.status_code == 400 and "bad.jsonl:1" in r.text and "/tmp" not in r.text
        assert [t.name for t in store.tasks()] == ["demo"]
        with a.open("rb") as fa, b.open("rb") as fb:
            r = client.post("/admin/pairs", data={"csrf": csrf, "name": "second"},
                            files={"a": ("a.jsonl", fa), "b": ("b.jsonl", fb)})  # fmt: skip
        assert r.status_code == 200 and [t.name for t in store.tasks()] == ["demo", "second"]
        # Forged admin form: refused.
        assert client.post("/admin/annotators", data={"name": "eve"}).status_code == 403
        judgments = tmp_path / "judgments.jsonl"
        keys = [r["key"] for r in store.rows("SELECT key FROM items WHERE task_id = ?", (task,))]
        judgments.write_text("".join(
            json.dumps({"item": k, "judge": "m", "run": 1, "dimension": d, "order": "AB",
                        "answer": "A", "winner": "a"}) + "\n"
            for k in keys for d in PAIRWISE_DIMENSIONS))  # fmt: skip
        with judgments.open("rb") as fj:
            r = client.post("/admin/judgments", data={"csrf": csrf, "task": "demo"},
                            files={"file": ("judgments.jsonl", fj)})  # fmt: skip
        assert r.status_code == 200
        results = client.get(f"/admin/tasks/{task}").text
        assert "Overall quality" in results and "100% of 4" in results
        plot = client.get(f"/admin/tasks/{task}/plot.png")
        assert plot.headers["content-type"] == "image/png" and plot.content[:4] == b"\x89PNG"
        exported = client.get("/admin/export.csv").text
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert len(rows) == 3 * 4 * len(PAIRWISE_DIMENSIONS)
    assert {r["winner"] for r in rows if r["judge"] == "alice"} == {"a"}
    from sweetiechat.web.results import judge_style_summary, task_results

    res = task_results(store, task)
    wtl = res.win_tie_loss["Helpfulness"]
    assert (wtl.win, wtl.tie, wtl.loss) == (8, 4, 0)
    kappa, items, raters = res.kappa["Helpfulness"]
    assert (items, raters) == (4, 3) and kappa < 0.5
    assert res.judge["Helpfulness"].agreement == 1.0
    # The judge's summary and plot: the annotators pooled as one judge, next to the LLM.
    summary = judge_style_summary(store, task)
    assert summary["judges"] == ["annotators", "m"]
    assert summary["win_tie_loss"]["annotators"]["Helpfulness"]["win"] == 8


def test_store_rejects_bad_input_and_keeps_nothing(tmp_path):
    store = Store(tmp_path / "eval.sqlite")
    a, b = write_demo_pairs(tmp_path / "in", 2)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(UserError, match="empty"):
        load_pair_files(store, a, empty)
    load_pair_files(store, a, b, "t")
    with pytest.raises(UserError, match="exists already"):
        load_pair_files(store, a, b, "t")
    bad = tmp_path / "j.jsonl"
    keys = [r["key"] for r in store.rows("SELECT key FROM items")]
    good = json.dumps({"item": keys[0], "judge": "m", "run": 1, "dimension": "Empathy",
                       "order": "BA", "answer": "B", "winner": "a"})  # fmt: skip
    bad.write_text(good + "\n" + '{"item": "nope", "judge": "m", "dimension": "Empathy"}\n')
    with pytest.raises(UserError, match=r"j\.jsonl:2"):
        import_judgments(store, bad)
    assert _count(store, "judgments") == 0 and len(store.tasks()) == 1
    with pytest.raises(UserError, match="not a sweetiechat web database"):
        (tmp_path / "junk.sqlite").write_text("this is not sqlite" * 100)
        Store(tmp_path / "junk.sqlite")
    with pytest.raises(sqlite3.IntegrityError), store.transaction() as con:
        con.execute("INSERT INTO ratings (annotator_id, item_id, dimension, rating, "
                    "created_at) VALUES (1, 1, 'x', 7, 0)")  # fmt: skip


def test_agent_eval_generations_load_as_a_pairwise_task(tmp_path):
    context = [{"role": "seeker", "text": "I lost my job.", "strategy": None}]

    def generations(path: Path, response: str) -> Path:
        record = {"id": "d1:1", "dialogue_id": "d1", "turn": 1, "mode": "reference",
                  "seed": 0, "system": "x", "context": context, "reference": "ref",
                  "response": response, "strategy": None}  # fmt: skip
        path.write_text(json.dumps(record) + "\n")
        return path

    store = Store(tmp_path / "eval.sqlite")
    task = load_pair_files(
        store,
        generations(tmp_path / "a.jsonl", "So sorry."),
        generations(tmp_path / "b.jsonl", "Ok."),
    )
    item = store.next_item(task, store.add_annotator("alice").id)
    assert item is not None and item.key == "d1:1"
    assert (item.payload["a"], item.payload["b"]) == ("So sorry.", "Ok.")
    assert item.payload["context"] == context


def test_cli_admin_commands(tmp_path):
    from typer.testing import CliRunner

    from sweetiechat.cli import app

    a, b = write_demo_pairs(tmp_path / "in", 3)
    db = str(tmp_path / "eval.sqlite")
    runner = CliRunner()
    r = runner.invoke(app, ["web", "--db", db, "load-pairs", str(a), str(b), "--name", "t"])
    assert r.exit_code == 0 and "3 items" in r.output
    r = runner.invoke(app, ["web", "add-annotator", "alice", "--db", db])
    assert r.exit_code == 0
    link = r.output.strip()
    assert re.fullmatch(r"http://127\.0\.0\.1:8000/annotate/[\w-]{20,}", link)
    store = Store(db)
    who = store.annotators()[0]
    assert link.endswith(who.token)
    item = store.next_item(store.tasks()[0].id, who.id)
    assert item is not None
    store.submit_pairwise(who.id, item.id, {d: "tie" for d in PAIRWISE_DIMENSIONS})
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"answers.{fmt}"
        r = runner.invoke(app, ["web", "--db", db, "export", "--format", fmt, "--out", str(out)])
        assert r.exit_code == 0, r.output
    lines = (tmp_path / "answers.jsonl").read_text().splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 7 and first["judge"] == "alice" and first["winner"] == "tie"
    r = runner.invoke(app, ["web", "--db", db, "results", "--out", str(tmp_path / "plots")])
    assert r.exit_code == 0 and (tmp_path / "plots" / "task-1.png").stat().st_size > 1000
    r = runner.invoke(app, ["web", "--db", db, "load-pairs", str(a), str(tmp_path / "none")])
    assert r.exit_code != 0


@pytest.mark.slow  # the real crisis detector loads a sentence encoder
def test_chat_page_streams_and_saves_the_transcript(tmp_path):
    chat = pytest.importorskip("sweetiechat.chat")
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    store = Store(tmp_path / "eval.sqlite")
    alice = store.add_annotator("alice")
    replies = itertools.repeat("That sounds really hard. What happened at work today?")

    def factory():
        return chat.ChatSession(GenericFakeChatModel(messages=replies))

    app = create_app(store, admin_token=ADMIN, chat_factory=factory)
    with running_server(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        page = client.get(f"/annotate/{alice.token}/chat").text
        csrf = _form(page)["csrf"]
        pieces = []
        with client.stream("POST", f"/annotate/{alice.token}/chat/send",
                           json={"text": "My boss shouted at me."},
                           headers={"X-CSRF-Token": csrf}) as response:  # fmt: skip
            assert response.status_code == 200
            pieces = list(response.iter_text())
        assert "".join(pieces) == "That sounds really hard. What happened at work today?"
        forged = client.post(f"/annotate/{alice.token}/chat/send", json={"text": "hi"},
                             headers={"X-CSRF-Token": "x"})  # fmt: skip
        assert forged.status_code == 403
        assert "My boss shouted at me." in client.get(f"/annotate/{alice.token}/chat").text
        # The safety policy applies to every message: a crisis message does not get the
        # model's unchecked reply.
        crisis = client.post(f"/annotate/{alice.token}/chat/send",
                             json={"text": "I want to kill myself tonight."},
                             headers={"X-CSRF-Token": csrf})  # fmt: skip
        assert crisis.status_code == 200 and "What happened at work" not in crisis.text
        assert "failed" not in crisis.text
    saved = store.rows("SELECT annotator_id, dialogue FROM chats")
    assert len(saved) == 1 and saved[0]["annotator_id"] == alice.id
    turns = json.loads(saved[0]["dialogue"])["turns"]
    assert [t["role"] for t in turns] == ["seeker", "supporter"] * 2
    assert turns[0]["text"] == "My boss shouted at me."
    assert json.loads(saved[0]["dialogue"])["meta"]["crisis"] is True
    from typer.testing import CliRunner

    from sweetiechat.cli import app as cli
    from sweetiechat.io import read_dialogues

    out = tmp_path / "chats.jsonl"
    r = CliRunner().invoke(cli, ["web", "--db", str(store.path), "export-chats", "--out", str(out)])
    assert r.exit_code == 0, r.output
    (dialogue,) = list(read_dialogues(out))
    assert dialogue.turns[0].text == "My boss shouted at me." and dialogue.meta.annotator == "alice"


def test_sweetiechat_web_serves_and_prints_the_admin_link(tmp_path):
    import subprocess
    import sys
    import time

    from sweetiechat.web.testing import free_port

    store = Store(tmp_path / "eval.sqlite")
    alice = store.add_annotator("alice")
    port = free_port()
    exe = Path(sys.executable).with_name("sweetiechat")
    proc = subprocess.Popen(
        [str(exe), "web", "--db", str(store.path), "--port", str(port), "--no-chat"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        lines = [proc.stdout.readline() for _ in range(2)]  # type: ignore[union-attr]
        admin = re.search(r"admin: (http://127\.0\.0\.1:\d+/admin\?token=\S+)", "".join(lines))
        assert admin, lines
        deadline = time.monotonic() + 120
        while True:
            try:
                with httpx.Client(follow_redirects=True, timeout=30) as client:
                    assert client.get(admin.group(1)).status_code == 200
                    assert "alice" in client.get(f"http://127.0.0.1:{port}/admin").text
                    page = client.get(f"http://127.0.0.1:{port}/annotate/{alice.token}")
                    assert page.status_code == 200
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.3)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert alice.token not in out  # no access log: the links' tokens stay out of the logs
