"""The optional model layer of the risk detector: one ``choose`` call among the categories."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["RISK_QUESTION", "ask_model"]

RISK_QUESTION = (
    "You screen messages in an emotional-support chat for crisis risk. Read the seeker's "
    "latest message in the context of their earlier messages and answer with one label:\n"
    "- suicidal_ideation: thoughts, wishes, plans or preparations to die or end their life "
    "(including passive wishes such as not waking up)\n"
    "- self_harm: hurting themselves on purpose without intent to die\n"
    "- harm_from_others: someone threatens or hurts them; they are not safe\n"
    "- means_request: asks for a method, dose, place or object to die or self-harm\n"
    "- none: no such risk (sadness, anger, figures of speech, films or books are none)"
)
_LABELS = ["suicidal_ideation", "self_harm", "harm_from_others", "means_request", "none"]


async def ask_model(backend: Any, text: str, context: Sequence[str]) -> tuple[str, float] | None:
    """The model's (category, probability) for ``text``; ``None`` when it gave no usable
    answer (the offline verdict then stands)."""
    from sweetiechat.backends.choice import achoose

    earlier = "\n".join(f"- {c}" for c in context) or "(none)"
    messages = [
        ("system", RISK_QUESTION),
        ("user", f"Earlier messages:\n{earlier}\n\nLatest message:\n{text[:4000]}\n\nLabel:"),
    ]
    choice = await achoose(backend, messages, _LABELS, default="none")
    if choice.fallback:
        return None
    probability = (choice.probabilities or {}).get(choice.label, 1.0)
    return choice.label, float(probability)
