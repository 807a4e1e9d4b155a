"""The model-based checks of ``sweetiechat clean``, applied to a batch of dialogues:
role inconsistency (the role detector), off-scenario (MiniLM similarity), unsafe supporter
turns (the crisis detector and reply check). Each check loads its model on first use and,
when the model cannot be loaded, is skipped with a note instead of failing the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sweetiechat.errors import ConfigError
from sweetiechat.quality.filters import CleanConfig, RuleVerdict
from sweetiechat.types import Dialogue

__all__ = ["ModelChecks", "seeker_text"]


def seeker_text(dialogue: Dialogue) -> str:
    """The seeker's utterances joined: what is compared with the scenario."""
    return " ".join(t.text for t in dialogue.turns if t.role == "seeker")


class ModelChecks:
    """Runs the model-based filters on batches; collects notes about what was skipped.

    Args:
        config: the clean settings.
        role_model: the role detector's folder (``None``: the detector shipped in the package).
        role_detector: an already loaded detector (tests); overrides ``role_model``.
        risk_detector: an already loaded crisis detector (tests).
        encoder: an already loaded sentence encoder with ``embed(texts)`` (tests).
        role_backend: a chat backend that confirms each turn the role detector flags (through
            ``choose``); ``None``: the detector alone.
    """

    def __init__(
        self,
        config: CleanConfig,
        *,
        role_model: str | Path | None = None,
        role_detector: Any = None,
        risk_detector: Any = None,
        encoder: Any = None,
        role_backend: Any = None,
    ) -> None:
        self.config = config
        self.role_model = role_model
        self.role_backend = role_backend
        self.notes: list[str] = []
        self._roles: Any = role_detector
        self._risk: Any = risk_detector
        self._encoder: Any = encoder
        self._skipped: set[str] = set()
        self.unscored_scenarios = 0
        self.scored_scenarios = 0

    def _skip(self, code: str, why: str) -> None:
        if code not in self._skipped:
            self._skipped.add(code)
            self.notes.append(f"{code} skipped: {why}")

    def active(self, code: str) -> bool:
        """True when the filter ``code`` is on and has not been skipped."""
        return self.config.on(code) and code not in self._skipped

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Load the role detector now, so a bad ``--role-model`` fails before any work."""
        if self.active("role_inconsistency") and self._roles is None:
            try:
                from sweetiechat.quality.roles import RoleDetector
            except ImportError as err:
                self._skip("role_inconsistency", f"the role detector is not available ({err})")
                return
            if self.role_model is not None and not Path(self.role_model).is_dir():
                raise ConfigError(
                    f"--role-model {self.role_model}: no such folder; give a role detector "
                    "folder (from `sweetiechat quality`) or leave it out for the shipped one"
                )
            if self.role_model is None:
                try:
                    self._roles = RoleDetector.load(None, threshold=self.config.role_threshold)
                except ConfigError as err:
                    self._skip(
                        "role_inconsistency", f"the shipped role detector is missing ({err})"
                    )
                return
            self._roles = RoleDetector.load(self.role_model, threshold=self.config.role_threshold)

    def _encoder_or_none(self) -> Any:
        if self._encoder is None:
            try:
                from sweetiechat.quality.embedding import MiniLM
                from sweetiechat.quality.semantic import semantic_available
            except ImportError as err:
                self._skip("off_scenario", f"no sentence encoder ({err})")
                return None
            if not semantic_available():
                self._skip(
                    "off_scenario",
                    "MiniLM is not installed (pip install 'sweetiechat[safety]')",
                )
                return None
            self._encoder = MiniLM(max_length=256)
        return self._encoder

    def _risk_detector(self) -> Any:
        if self._risk is None:
            from sweetiechat.quality.semantic import semantic_available
            from sweetiechat.safety import RiskDetector

            semantic = self.config.unsafe_semantic and semantic_available()
            self._risk = RiskDetector(semantic=semantic)
        return self._risk

    # -- the checks ------------------------------------------------------------------------

    def run(self, verdicts: Sequence[RuleVerdict]) -> None:
        """Add the model filters' reasons to ``verdicts`` (in place)."""
        if self.active("role_inconsistency"):
            self.load()
            if self._roles is not None:
                self._role_check(verdicts)
        if self.active("off_scenario"):
            self._scenario_check(verdicts)
        if self.active("unsafe_supporter"):
            self._unsafe_check(verdicts)

    def _role_check(self, verdicts: Sequence[RuleVerdict]) -> None:
        items: list[tuple[Dialogue, int]] = []
        owners: list[int] = []
        for k, v in enumerate(verdicts):
            seeker = [i for i, t in enumerate(v.dialogue.turns) if t.role == "seeker"]
            for i in seeker[self.config.role_skip_first :]:
                items.append((v.dialogue, i))
                owners.append(k)
        if not items:
            return
        flagged: dict[int, list[str]] = {}
        if self.role_backend is not None:
            from sweetiechat._async import run_sync

            checked = run_sync(self._roles.acheck(items, self.role_backend))
            hits = [(v.flagged, v.score) for v in checked]
        else:
            threshold = float(self._roles.threshold)
            hits = [(s >= threshold, s) for s in self._roles.scores(items)]
        for (_, i), k, (hit, score) in zip(items, owners, hits, strict=True):
            if hit:
                flagged.setdefault(k, []).append(f"turn {i} ({score:.2f})")
        for k, turns in flagged.items():
            if len(turns) >= self.config.role_min_turns:
                verdicts[k].reject(
                    "role_inconsistency",
                    "seeker reads as the supporter at " + ", ".join(turns[:5]),
                )

    def _scenario_check(self, verdicts: Sequence[RuleVerdict]) -> None:
        todo = [v for v in verdicts if v.dialogue.scenario and seeker_text(v.dialogue)]
        self.unscored_scenarios += len(verdicts) - len(todo)
        if not todo:
            return
        encoder = self._encoder_or_none()
        if encoder is None:
            return
        scenarios = encoder.embed([v.dialogue.scenario or "" for v in todo])
        dialogues = encoder.embed([seeker_text(v.dialogue) for v in todo])
        sims = np.sum(np.asarray(scenarios) * np.asarray(dialogues), axis=1)
        self.scored_scenarios += len(todo)
        for v, sim in zip(todo, sims, strict=True):
            if sim < self.config.scenario_threshold:
                v.reject(
                    "off_scenario",
                    f"similarity to the scenario {sim:.2f} < {self.config.scenario_threshold}",
                )

    def _unsafe_check(self, verdicts: Sequence[RuleVerdict]) -> None:
        from sweetiechat.safety import unsafe_supporter_turns

        detector = self._risk_detector()
        for v in verdicts:
            found = unsafe_supporter_turns(v.dialogue, detector)
            if found:
                v.reject(
                    "unsafe_supporter",
                    "; ".join(f"turn {u.index}: {u.reason}" for u in found[:3]),
                )

    def finish_notes(self) -> list[str]:
        """The notes, with the scenario filter's coverage."""
        notes = list(self.notes)
        if self.config.on("off_scenario") and "off_scenario" not in self._skipped:
            if self.scored_scenarios == 0 and self.unscored_scenarios:
                notes.append("off_scenario skipped: no dialogue in the file has a scenario")
            elif self.unscored_scenarios:
                notes.append(
                    f"off_scenario: {self.unscored_scenarios} dialogue(s) without a scenario "
                    "were not checked"
                )
        return notes
