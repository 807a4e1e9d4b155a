"""Trained counselor folders: what ``sweetiechat counselor train`` writes, and loading them.

A folder holds ``counselor.json`` (:class:`CounselorFolder`): the kind (``lm`` or
``classifier``), the base model it was trained from with a fingerprint of its architecture,
the label map and the input settings. :func:`load_trained_counselor` turns a folder into the
right counselor: ``lm`` -> :class:`~sweetiechat.agents.likelihood.LikelihoodCounselor` with
the folder as its LoRA adapter, ``classifier`` ->
:class:`~sweetiechat.agents.classifier.ClassifierCounselor`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sweetiechat.agents.counselor import CounselorAgent
from sweetiechat.errors import ConfigError, UserError, first_problem
from sweetiechat.taxonomy import Strategy

__all__ = [
    "COUNSELOR_FILE",
    "CounselorFolder",
    "adapter_base",
    "base_fingerprint",
    "check_base",
    "load_trained_counselor",
    "read_counselor_folder",
    "resolve_base",
]

#: The descriptor file of a trained counselor folder.
COUNSELOR_FILE = "counselor.json"
_ARCH_KEYS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers")


class CounselorFolder(BaseModel):
    """The contents of ``counselor.json``."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["sweetiechat-counselor"] = "sweetiechat-counselor"
    """Marks the file as a sweetiechat counselor descriptor."""
    version: int = 1
    """Version of this layout."""
    kind: Literal["lm", "classifier"]
    """``lm``: a LoRA adapter on a causal LM; ``classifier``: a full sequence classifier."""
    base_model: str
    """The base model as given at training (``"embedded"`` or a folder)."""
    base_fingerprint: dict[str, Any] = Field(default_factory=dict)
    """The base's architecture (model type, vocabulary, hidden size, layers)."""
    labels: list[str] = Field(default_factory=lambda: [s.value for s in Strategy])
    """The label map: class index -> strategy name."""
    window: int = 6
    """lm: utterances of history in the counselor prompt."""
    input: dict[str, Any] | None = None
    """classifier: the :class:`~sweetiechat.agents.classifier.ClassifierInput` settings."""
    trained_steps: int | None = None
    """Optimizer steps of the saved model, once training has finished."""


def read_counselor_folder(folder: str | Path, *, expect_kind: str | None = None) -> CounselorFolder:
    """Read a trained counselor's ``counselor.json``.

    Args:
        folder: the folder.
        expect_kind: ``"lm"`` or ``"classifier"``: fail unless the folder holds that kind.

    Raises:
        ConfigError: no such folder, no descriptor, a bad descriptor, or another kind.
    """
    folder = Path(folder)
    path = folder / COUNSELOR_FILE
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such counselor folder")
    if not path.is_file():
        raise ConfigError(
            f"{folder}: not a trained counselor folder (no {COUNSELOR_FILE}); train one with "
            "sweetiechat counselor train"
        )
    try:
        info = CounselorFolder.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
    except ValidationError as err:
        field, message = first_problem(err, "counselor.json")
        raise ConfigError(f"{path}: field {field!r}: {message}") from None
    if expect_kind is not None and info.kind != expect_kind:
        raise ConfigError(
            f"{folder} holds a {info.kind} counselor, not {expect_kind}; "
            f"use --kind {info.kind} (or another folder)"
        )
    return info


def resolve_base(base_model: str) -> Path:
    """The local folder of a base model (``"embedded"`` -> the converted SmolLM2).

    Raises:
        UserError: the folder does not exist or holds no ``config.json``.
    """
    if base_model == "embedded":
        from sweetiechat.backends.local import embedded_model_dir

        return embedded_model_dir()
    path = Path(base_model).expanduser()
    if not path.is_dir():
        raise UserError(
            f"base model {base_model}: no such folder; give a local model folder "
            "(or 'embedded' for SmolLM2)"
        )
    if not (path / "config.json").is_file():
        raise UserError(f"base model {base_model}: no config.json; is it a transformers model?")
    return path


def base_fingerprint(base_model: str) -> dict[str, Any]:
    """The architecture of a base model, read from its ``config.json``."""
    config = json.loads((resolve_base(base_model) / "config.json").read_text(encoding="utf-8"))
    text = config.get("text_config") or {}
    return {k: config.get(k, text.get(k)) for k in _ARCH_KEYS}


def check_base(info: CounselorFolder, base_model: str, folder: str | Path) -> None:
    """Fail unless ``base_model`` has the architecture the folder's adapter was trained on.

    Raises:
        UserError: the base model is missing, or differs from the one trained on.
    """
    found = base_fingerprint(base_model)
    if info.base_fingerprint and found != info.base_fingerprint:
        trained = ", ".join(f"{k}={v}" for k, v in info.base_fingerprint.items())
        given = ", ".join(f"{k}={v}" for k, v in found.items())
        raise UserError(
            f"{folder} was trained for base model {info.base_model} ({trained}), not for "
            f"{base_model} ({given}); pass the base model it was trained on"
        )


def adapter_base(adapter: str | Path, base_model: str | None = None) -> str:
    """The base model to put a LoRA adapter on, checked against the one it was trained for.

    A folder trained by sweetiechat (with ``counselor.json``) names its base; a plain peft
    adapter folder gets ``base_model`` or the embedded model.

    Raises:
        UserError: the folder is a classifier, or ``base_model`` differs from the base it
            was trained for.
    """
    if not (Path(adapter) / COUNSELOR_FILE).is_file():
        if not Path(adapter).is_dir():
            raise ConfigError(f"{adapter}: no such adapter folder")
        return base_model or "embedded"
    info = read_counselor_folder(adapter, expect_kind="lm")
    base = base_model or info.base_model
    check_base(info, base, adapter)
    return base


def load_trained_counselor(
    folder: str | Path,
    *,
    kind: str | None = None,
    base_model: str | None = None,
    **options: Any,
) -> CounselorAgent:
    """The counselor a trained folder holds.

    Args:
        folder: the output folder of ``sweetiechat counselor train``.
        kind: ``"lm"`` or ``"classifier"`` to insist on one kind.
        base_model: lm: the base model to apply the adapter to (default: the one trained on).
        **options: passed to the counselor (``batch_size`` for a classifier, ``normalize``
            or ``temperature`` for an lm).

    Raises:
        ConfigError, UserError: a bad folder, another kind, or another base model.
    """
    info = read_counselor_folder(folder, expect_kind=kind)
    if info.kind == "classifier":
        from sweetiechat.agents.classifier import ClassifierCounselor

        return ClassifierCounselor(folder, **options)
    base = adapter_base(folder, base_model)
    from sweetiechat.agents.likelihood import LikelihoodCounselor

    return LikelihoodCounselor(base, adapter=Path(folder), window=info.window, **options)
