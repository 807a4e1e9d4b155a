"""The web app in a real browser: headless Chromium (Debian's ``chromium`` package) driven by
Playwright, against a real uvicorn server on 127.0.0.1.

Without Chromium the tests skip, unless ``CI`` is set: then they fail, so CI cannot pass
without running them. ``SWEETIECHAT_WEB_SCREENSHOTS=docs/web`` writes the pages' screenshots
there (they are kept in the docs); otherwise they go to a temporary folder.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

import pytest

from sweetiechat.web.dims import DATASET_DIMENSIONS, PAIRWISE_DIMENSIONS

CHROMIUM = os.environ.get("SWEETIECHAT_CHROMIUM", "/usr/bin/chromium")
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
ADMIN = "admin-secret-token"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so the browser tests must run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).is_file() or shutil.which("chromium")):
        _missing(f"no Chromium at {CHROMIUM}: run scripts/system-packages.sh (apt chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed: pip install 'sweetiechat[web-test]'")
    pytest.importorskip("fastapi")
    path = CHROMIUM if Path(CHROMIUM).is_file() else str(shutil.which("chromium"))
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("SWEETIECHAT_WEB_SCREENSHOTS") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    return page, dialogs


def test_an_annotator_completes_a_pairwise_task(browser, tmp_path, shots):
    from sweetiechat.web.app import create_app
    from sweetiechat.web.loading import load_pair_files
    from sweetiechat.web.store import Store
    from sweetiechat.web.testing import running_server, write_demo_pairs

    store = Store(tmp_path / "eval.sqlite")
    a, b = write_demo_pairs(tmp_path / "in", 2)
    load_pair_files(store, a, b, "empathic vs curt")
    alice = store.add_annotator("alice")
    with running_server(create_app(store, admin_token=ADMIN)) as url:
        page, dialogs = _page(browser)
        page.goto(f"{url}/annotate/{alice.token}")
        page.click("text=empathic vs curt")
        picks = []
        for n in (1, 2):
            assert page.inner_text("#progress") == f"item {n} of 2"
            # The annotator prefers the empathic reply (system a), wherever it is shown.
            a_first = "?" in page.inner_text("#response-A .text")
            pick = "A" if a_first else "B"
            picks.append(pick)
            for i in range(len(PAIRWISE_DIMENSIONS)):
                page.check(f"#dim-{i}-{'tie' if i == 3 else pick}")
            if n == 1:
                page.screenshot(path=str(shots / "annotate-pairwise.png"), full_page=True)
            page.click("#submit")
        assert "All done" in page.inner_text("#done")
        assert dialogs == []
    rows = store.rows(
        "SELECT a.item_id, a.dimension, a.ord, a.answer, a.winner, s.swapped FROM answers a "
        "JOIN shown s ON s.item_id = a.item_id AND s.annotator_id = a.annotator_id ORDER BY a.id"
    )
    assert len(rows) == 2 * len(PAIRWISE_DIMENSIONS)
    for r in rows:
        tie = r["dimension"] == PAIRWISE_DIMENSIONS[3]
        assert r["winner"] == ("tie" if tie else "a")
        assert r["ord"] == ("BA" if r["swapped"] else "AB")
    assert [r["answer"] for r in rows if r["dimension"] == "Empathy"] == picks


def test_an_xss_attempt_stays_text_in_the_browser(browser, tmp_path):
    from sweetiechat.web.app import create_app
    from sweetiechat.web.loading import load_pair_files
    from sweetiechat.web.store import Store
    from sweetiechat.web.testing import running_server, write_demo_pairs

    store = Store(tmp_path / "eval.sqlite")
    a, b = write_demo_pairs(tmp_path / "in", 1, seeker_text=XSS)
    task = load_pair_files(store, a, b, "xss")
    alice = store.add_annotator("alice")
    with running_server(create_app(store, admin_token=ADMIN)) as url:
        page, dialogs = _page(browser)
        page.goto(f"{url}/annotate/{alice.token}/task/{task}")
        page.wait_for_load_state("load")
        assert page.evaluate("window.__xss") is None
        assert page.inner_text(".turn.seeker .text") == XSS
        assert page.locator(".dialogue img").count() == 0 and dialogs == []


def test_a_dialogue_is_rated_in_the_browser(browser, tmp_path, shots):
    from sweetiechat.web.app import create_app
    from sweetiechat.web.loading import load_dataset_file
    from sweetiechat.web.store import Store
    from sweetiechat.web.testing import running_server, write_demo_pairs

    store = Store(tmp_path / "eval.sqlite")
    a, _ = write_demo_pairs(tmp_path / "in", 1)
    task = load_dataset_file(store, a, "role-played dialogues")
    alice = store.add_annotator("alice")
    with running_server(create_app(store, admin_token=ADMIN)) as url:
        page, _ = _page(browser)
        page.goto(f"{url}/annotate/{alice.token}/task/{task}")
        for i in range(len(DATASET_DIMENSIONS)):
            page.check(f"#dim-{i}-{4 if i % 2 else 5}")
        page.screenshot(path=str(shots / "annotate-dataset.png"), full_page=True)
        page.click("#submit")
        assert "All done" in page.inner_text("#done")
    ratings = [r["rating"] for r in store.rows("SELECT rating FROM ratings ORDER BY id")]
    assert ratings == [4 if i % 2 else 5 for i in range(len(DATASET_DIMENSIONS))]


@pytest.mark.slow  # the real crisis detector loads a sentence encoder
def test_the_chat_page_streams_a_reply_as_text(browser, tmp_path, shots):
    chat = pytest.importorskip("sweetiechat.chat")
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    from sweetiechat.web.app import create_app
    from sweetiechat.web.store import Store
    from sweetiechat.web.testing import running_server

    store = Store(tmp_path / "eval.sqlite")
    alice = store.add_annotator("alice")
    replies = itertools.cycle(
        [
            "That sounds exhausting. What has been the hardest part of this week for you?",
            'I hear you <img src=x onerror="window.__xss=3">. Would a short break help?',
        ]
    )

    def factory():
        return chat.ChatSession(GenericFakeChatModel(messages=replies))

    with running_server(create_app(store, admin_token=ADMIN, chat_factory=factory)) as url:
        page, dialogs = _page(browser)
        page.goto(f"{url}/annotate/{alice.token}/chat")
        for n, text in enumerate(("Work has been crushing me lately.", "Mostly the deadlines."), 1):
            page.fill("#message", text)
            page.click("#send")
            # The first message loads the crisis detector: allow for it on a busy machine.
            page.wait_for_selector(
                f"#transcript li.supporter:nth-of-type({2 * n})[data-done]", timeout=180_000
            )
        page.screenshot(path=str(shots / "chat.png"), full_page=True)
        replies_shown = page.locator("#transcript li.supporter .text").all_inner_texts()
        assert replies_shown[0].startswith("That sounds exhausting.")
        assert "<img src=x" in replies_shown[1]
        assert page.evaluate("window.__xss") is None and dialogs == []
    saved = json.loads(store.rows("SELECT dialogue FROM chats")[0]["dialogue"])
    assert [t["text"] for t in saved["turns"]][::2] == [
        "Work has been crushing me lately.",
        "Mostly the deadlines.",
    ]
