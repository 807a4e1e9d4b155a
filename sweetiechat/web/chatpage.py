"""The chat page: an annotator talks to the configured agent, the reply streams in.

Each annotator has one live chat session (made by the app's ``chat_factory``, normally
:func:`sweetiechat.chat.open_chat`, which checks every message for crisis risk and applies the
safe-reply policy). The reply is streamed as chunked plain text, and the transcript (a
dialogue in our format) is saved to the database after every exchange.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sweetiechat.web.security import csrf_token
from sweetiechat.web.store import Store

__all__ = ["ChatLike", "add_chat_routes"]

#: The longest message accepted, in characters.
MAX_MESSAGE = 4000


class ChatLike(Protocol):
    """What the page needs of a chat session (``sweetiechat.chat.ChatSession`` fits)."""

    dialogue: Any

    def send(self, text: str) -> AsyncIterator[str]:
        """Stream the reply to one user message."""
        ...


@dataclass
class _Live:
    session: Any
    chat_id: int | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def _turns(session: Any) -> list[dict[str, Any]]:
    dialogue = getattr(session, "dialogue", None)
    turns = getattr(dialogue, "turns", None) or []
    return [{"role": t.role, "text": t.text} for t in turns]


def add_chat_routes(
    app: Any,
    store: Store,
    chat_factory: Callable[[], Any],
    page: Callable[..., Any],
    annotator: Callable[[str], Any],
    csrf_ok: Callable[[str, str, Any], None],
) -> None:
    """Add ``/annotate/<token>/chat`` (the page), ``.../chat/send`` and ``.../chat/new``."""
    from fastapi import HTTPException, Request
    from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
    from starlette.concurrency import run_in_threadpool

    live: dict[int, _Live] = {}
    opening = asyncio.Lock()

    async def session_of(who_id: int) -> _Live:
        async with opening:
            if who_id not in live:
                live[who_id] = _Live(await run_in_threadpool(chat_factory))
            return live[who_id]

    @app.get("/annotate/{token}/chat", response_class=HTMLResponse)
    async def chat_page(token: str) -> Any:
        who = await run_in_threadpool(annotator, token)
        current = live.get(who.id)
        turns = _turns(current.session) if current else []
        csrf = csrf_token(app.state.secret, "annotator", token)
        return page("chat.html", who=who, turns=turns, csrf=csrf)

    @app.post("/annotate/{token}/chat/new")
    async def chat_new(token: str, request: Request) -> Response:
        who = await run_in_threadpool(annotator, token)
        form = await request.form()
        csrf_ok("annotator", token, form.get("csrf"))
        live.pop(who.id, None)
        return RedirectResponse(f"/annotate/{token}/chat", status_code=303)

    @app.post("/annotate/{token}/chat/send")
    async def chat_send(token: str, request: Request) -> Response:
        who = await run_in_threadpool(annotator, token)
        csrf_ok("annotator", token, request.headers.get("x-csrf-token"))
        try:
            body = await request.json()
        except ValueError:
            raise HTTPException(400, 'send JSON: {"text": "..."}') from None
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise HTTPException(400, "the message is empty")
        if len(text) > MAX_MESSAGE:
            raise HTTPException(400, f"the message is longer than {MAX_MESSAGE} characters")
        current = await session_of(who.id)
        if current.lock.locked():
            raise HTTPException(409, "wait for the reply to the previous message")

        async def stream() -> AsyncIterator[str]:
            async with current.lock:
                try:
                    async for chunk in current.session.send(text.strip()):
                        yield chunk
                except Exception as err:  # the page shows it; the transcript keeps what exists
                    yield f"\n[the agent failed: {type(err).__name__}]"
                dialogue = getattr(current.session, "dialogue", None)
                if dialogue is not None:
                    current.chat_id = await run_in_threadpool(
                        store.save_chat, who.id, current.chat_id, dialogue.model_dump_json()
                    )

        return StreamingResponse(
            stream(),
            media_type="text/plain; charset=utf-8",
            headers={"X-Accel-Buffering": "no"},
        )
