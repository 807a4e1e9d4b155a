"""The FastAPI app: annotator pages, admin pages, and the chat page (:mod:`.chatpage`).

Build it with :func:`create_app` and serve it with uvicorn (``sweetiechat web`` does both).
Store calls are blocking SQLite, so the routes that use it are plain functions, which FastAPI
runs in its thread pool; each request opens its own connection. (No ``from __future__ import
annotations`` here: FastAPI reads the routes' annotations, defined inside :func:`create_app`.)
"""

import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sweetiechat.errors import UserError
from sweetiechat.web.dims import QUESTIONS
from sweetiechat.web.security import (
    ADMIN_COOKIE,
    SECURITY_HEADERS,
    check_csrf,
    csrf_token,
    same_origin,
)
from sweetiechat.web.store import Annotator, Store

__all__ = ["create_app", "require_web"]

_HERE = Path(__file__).parent


def require_web() -> None:
    """Raise a UserError naming the extra when FastAPI, uvicorn or Jinja2 is missing."""
    try:
        import fastapi  # noqa: F401
        import jinja2  # noqa: F401
        import python_multipart  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as err:
        raise UserError(f"the web app needs {err.name}: pip install 'sweetiechat[web]'") from None


async def _uploaded(work: Any, tmp: str) -> Any:
    """Await a load of uploaded files; errors name the uploaded file, not the temp folder."""
    try:
        return await work
    except UserError as err:
        message = str(err)
        for sub in ("/a/", "/b/", "/"):
            message = message.replace(tmp + sub, "")
        raise UserError(message) from None


def create_app(
    store: Store,
    *,
    admin_token: str | None = None,
    chat_factory: Callable[[], Any] | None = None,
) -> Any:
    """The web app over ``store``.

    Args:
        store: the database.
        admin_token: the admin's secret (a random one when None; read it from
            ``app.state.admin_token``).
        chat_factory: makes a new chat session (``sweetiechat.chat.open_chat`` partially
            applied); None hides the chat page.

    Returns:
        A ``fastapi.FastAPI`` application.
    """
    require_web()
    import jinja2
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import (
        HTMLResponse,
        JSONResponse,
        PlainTextResponse,
        RedirectResponse,
        Response,
    )
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException as StarletteHTTPException

    app = FastAPI(title="sweetiechat human evaluation", docs_url=None, redoc_url=None)
    app.state.store = store
    app.state.admin_token = admin_token or secrets.token_urlsafe(24)
    app.state.secret = store.secret("csrf")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    app.state.env = env
    app.mount("/static", StaticFiles(directory=_HERE / "static"), name="static")

    def page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(**context), status_code=status)

    @app.middleware("http")
    async def _guard(request: Request, call_next: Any) -> Any:
        if request.method == "POST" and not same_origin(
            request.headers.get("origin"), request.headers.get("host")
        ):
            response: Any = PlainTextResponse("cross-site request refused", status_code=403)
        else:
            response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.exception_handler(UserError)
    async def _user_error(request: Request, err: UserError) -> HTMLResponse:
        return page("error.html", 400, message=str(err), saved=False)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, err: StarletteHTTPException) -> Response:
        if request.url.path.endswith("/chat/send"):  # the chat script reads JSON
            return JSONResponse({"detail": err.detail}, status_code=err.status_code)
        return page("error.html", err.status_code, message=str(err.detail), saved=None)

    def annotator(token: str) -> Annotator:
        found = store.annotator_by_token(token)
        if found is None:
            raise HTTPException(403, "unknown annotation link; ask the admin for yours")
        return found

    def csrf_ok(scope: str, token: str, given: Any) -> None:
        if not check_csrf(
            app.state.secret, scope, token, given if isinstance(given, str) else None
        ):
            raise HTTPException(403, "the form's CSRF token is missing or wrong; reload the page")

    # -- annotators ----------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def home() -> HTMLResponse:
        return page("home.html")

    @app.get("/annotate/{token}", response_class=HTMLResponse)
    def annotator_home(token: str) -> HTMLResponse:
        who = annotator(token)
        tasks = [(t, store.progress(t.id, who.id)) for t in store.tasks()]
        return page("annotator.html", who=who, tasks=tasks, chat=chat_factory is not None)

    @app.get("/annotate/{token}/task/{task_id}", response_class=HTMLResponse)
    def annotate(token: str, task_id: int) -> HTMLResponse:
        who = annotator(token)
        task = store.task(task_id)
        if task is None:
            raise HTTPException(404, "no such task")
        item = store.next_item(task_id, who.id)
        done, total = store.progress(task_id, who.id)
        csrf = csrf_token(app.state.secret, "annotator", token)
        if item is None:
            return page("done.html", who=who, task=task, total=total)
        if task.kind == "pairwise":
            first, second = (item.payload["b"], item.payload["a"]) if item.swapped else (
                item.payload["a"], item.payload["b"])  # fmt: skip
            return page(
                "pairwise.html", who=who, task=task, item=item, done=done, total=total,
                csrf=csrf, first=first, second=second, dims=QUESTIONS["pairwise"],
            )  # fmt: skip
        return page(
            "dataset.html", who=who, task=task, item=item, done=done, total=total, csrf=csrf,
            dialogue=item.payload["dialogue"], dims=QUESTIONS["dataset"],
        )  # fmt: skip

    @app.post("/annotate/{token}/task/{task_id}")
    async def submit(token: str, task_id: int, request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        who = await run_in_threadpool(annotator, token)
        form = await request.form()
        csrf_ok("annotator", token, form.get("csrf"))
        task = await run_in_threadpool(store.task, task_id)
        if task is None:
            raise HTTPException(404, "no such task")
        try:
            item_id = int(str(form.get("item", "")))
        except ValueError:
            raise UserError("the form has no item; reload the page") from None
        dims = QUESTIONS[task.kind]
        values = {d.name: str(form.get(f"dim-{i}", "")) for i, d in enumerate(dims)}
        if task.kind == "pairwise":
            await run_in_threadpool(store.submit_pairwise, who.id, item_id, values)
        else:
            ratings = {k: int(v) if v.isdigit() else 0 for k, v in values.items()}
            await run_in_threadpool(store.submit_ratings, who.id, item_id, ratings)
        return RedirectResponse(f"/annotate/{token}/task/{task_id}", status_code=303)

    # -- admin ---------------------------------------------------------------------------------
    def is_admin(request: Request) -> bool:
        given = request.cookies.get(ADMIN_COOKIE) or ""
        return secrets.compare_digest(given.encode(), app.state.admin_token.encode())

    def admin_only(request: Request) -> None:
        if not is_admin(request):
            raise HTTPException(403, "admin only: open the admin link printed at startup")

    @app.get("/admin", response_class=HTMLResponse)
    def admin(request: Request, token: str | None = None) -> Response:
        if token is not None:
            if not secrets.compare_digest(token.encode(), app.state.admin_token.encode()):
                raise HTTPException(403, "wrong admin token")
            response = RedirectResponse("/admin", status_code=303)
            response.set_cookie(ADMIN_COOKIE, token, httponly=True, samesite="strict", path="/")
            return response
        admin_only(request)
        base = str(request.base_url).rstrip("/")
        return page(
            "admin.html", tasks=store.tasks(), annotators=store.annotators(), base=base,
            csrf=csrf_token(app.state.secret, "admin", app.state.admin_token),
        )  # fmt: skip

    async def admin_form(request: Request) -> Any:
        admin_only(request)
        form = await request.form()
        csrf_ok("admin", app.state.admin_token, form.get("csrf"))
        return form

    async def saved_upload(upload: Any, folder: Path, name: str) -> Path:
        if not hasattr(upload, "read"):
            raise UserError(f"choose a file for {name}")
        path = folder / (Path(upload.filename or name).name or name)
        path.write_bytes(await upload.read())
        return path

    @app.post("/admin/pairs")
    async def admin_pairs(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        from sweetiechat.web.loading import load_pair_files

        form = await admin_form(request)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "a").mkdir()
            (Path(tmp) / "b").mkdir()
            a = await saved_upload(form.get("a"), Path(tmp) / "a", "a.jsonl")
            b = await saved_upload(form.get("b"), Path(tmp) / "b", "b.jsonl")
            name = str(form.get("name") or "").strip() or None
            await _uploaded(run_in_threadpool(load_pair_files, store, a, b, name), tmp)
        return RedirectResponse("/admin", status_code=303)

    @app.post("/admin/dataset")
    async def admin_dataset(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        from sweetiechat.web.loading import load_dataset_file

        form = await admin_form(request)
        with tempfile.TemporaryDirectory() as tmp:
            path = await saved_upload(form.get("file"), Path(tmp), "dialogues.jsonl")
            name = str(form.get("name") or "").strip() or None
            await _uploaded(run_in_threadpool(load_dataset_file, store, path, name), tmp)
        return RedirectResponse("/admin", status_code=303)

    @app.post("/admin/judgments")
    async def admin_judgments(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        from sweetiechat.web.loading import import_judgments

        form = await admin_form(request)
        with tempfile.TemporaryDirectory() as tmp:
            path = await saved_upload(form.get("file"), Path(tmp), "judgments.jsonl")
            task = str(form.get("task") or "").strip() or None
            await _uploaded(run_in_threadpool(import_judgments, store, path, task), tmp)
        return RedirectResponse("/admin", status_code=303)

    @app.post("/admin/annotators")
    async def admin_annotators(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        form = await admin_form(request)
        await run_in_threadpool(store.add_annotator, str(form.get("name") or ""))
        return RedirectResponse("/admin", status_code=303)

    @app.get("/admin/tasks/{task_id}", response_class=HTMLResponse)
    def admin_task(request: Request, task_id: int) -> HTMLResponse:
        from sweetiechat.web.results import task_results

        admin_only(request)
        task = store.task(task_id)
        if task is None:
            raise HTTPException(404, "no such task")
        return page("results.html", task=task, results=task_results(store, task_id))

    @app.get("/admin/tasks/{task_id}/plot.png")
    def admin_plot(request: Request, task_id: int) -> Response:
        from sweetiechat.web.results import plot_task

        admin_only(request)
        task = store.task(task_id)
        if task is None:
            raise HTTPException(404, "no such task")
        with tempfile.TemporaryDirectory() as tmp:
            path = plot_task(store, task_id, Path(tmp) / "plot.png")
            return Response(path.read_bytes(), media_type="image/png")

    @app.get("/admin/export.{fmt}")
    def admin_export(request: Request, fmt: str) -> Response:
        from sweetiechat.web.loading import export_rows, render_export

        admin_only(request)
        if fmt not in ("jsonl", "csv"):
            raise HTTPException(404, "export as .jsonl or .csv")
        text = render_export(export_rows(store), fmt)  # type: ignore[arg-type]
        media = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
        headers = {"Content-Disposition": f'attachment; filename="answers.{fmt}"'}
        return Response(text, media_type=media, headers=headers)

    if chat_factory is not None:
        from sweetiechat.web.chatpage import add_chat_routes

        add_chat_routes(app, store, chat_factory, page, annotator, csrf_ok)
    return app
