"""Seed pools (docs/method.md, "Seed pools"): S of (problem type, scenario, dialogue) and C of
(problem type, scenario, profile). Both live in the run folder as JSON lines and only grow,
so a resumed run continues with the pools it had.
"""

from __future__ import annotations

import json
import random
import shutil
import threading
import warnings
from collections import defaultdict
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any, TypeVar

from sweetiechat.errors import ConfigError
from sweetiechat.io import JsonlWriter, read_dialogues
from sweetiechat.taxonomy import ProblemType
from sweetiechat.types import Scenario, SeekerProfile

T = TypeVar("T", Scenario, SeekerProfile)

__all__ = [
    "SeedPools",
    "builtin_profiles",
    "builtin_scenarios",
    "clear_pools",
    "scenarios_from_file",
]

SCENARIOS_FILE = "pool_scenarios.jsonl"
PROFILES_FILE = "pool_profiles.jsonl"


def _builtin_records() -> list[dict[str, Any]]:
    text = files("sweetiechat.data").joinpath("seeds.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def clear_pools(folder: str | Path) -> None:
    """Remove the pool files a run folder holds, so the next :class:`SeedPools` there starts
    from its initial pools (a new run in a folder an earlier run left behind)."""
    for name in (SCENARIOS_FILE, PROFILES_FILE):
        (Path(folder) / name).unlink(missing_ok=True)


def builtin_scenarios() -> list[Scenario]:
    """The built-in seed set S: one hand-written scenario and short dialogue per type."""
    return [
        Scenario.model_validate(
            {"problem_type": r["problem_type"], "text": r["scenario"], "turns": r["turns"]}
        )
        for r in _builtin_records()
    ]


def builtin_profiles() -> list[SeekerProfile]:
    """The built-in profile pool C: one hand-written profile per problem type (45)."""
    return [
        SeekerProfile.model_validate(
            {"problem_type": r["problem_type"], "scenario": r["scenario"], "text": r["profile"]}
        )
        for r in _builtin_records()
    ]


def scenarios_from_file(path: str | Path) -> list[Scenario]:
    """Seed pool S from a dialogue file (e.g. ESConv's train split): its scenarios and turns."""
    return [
        Scenario(problem_type=d.problem_type, text=d.scenario, turns=tuple(d.turns))
        for d in read_dialogues(path)
        if d.scenario
    ]


class SeedPools:
    """The two pools of one run, persisted in ``folder``.

    On first use the folder is filled with the initial pools (the pool files of
    ``start_from`` when given; else S: ``scenarios``, else the dialogues of
    ``seed_dialogues``, else the built-in seeds; C: ``profiles`` or the built-in ones);
    afterwards they are read back, so ``--resume`` continues where the run stopped.
    Safe to use from concurrent tasks.
    """

    def __init__(
        self,
        folder: str | Path,
        scenarios: Iterable[Scenario] | None = None,
        profiles: Iterable[SeekerProfile] | None = None,
        *,
        seed_dialogues: str | Path | None = None,
        start_from: str | Path | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        s_path, c_path = self.folder / SCENARIOS_FILE, self.folder / PROFILES_FILE
        if start_from is not None and not s_path.exists():
            self._copy_pools(Path(start_from), s_path, c_path)
        if not s_path.exists():  # a new run: S from the given seeds, a file, or the built-ins
            if scenarios is None:
                scenarios = (
                    scenarios_from_file(seed_dialogues) if seed_dialogues else builtin_scenarios()
                )
            self._seed_file(s_path, scenarios)
        if not c_path.exists():
            self._seed_file(c_path, profiles if profiles is not None else builtin_profiles())
        self.scenarios = self._load(s_path, Scenario)
        self.profiles = self._load(c_path, SeekerProfile)
        self._s_writer = JsonlWriter(s_path, fsync=False)
        self._c_writer = JsonlWriter(c_path, fsync=False)
        self._by_type: dict[ProblemType, list[int]] = defaultdict(list)
        for i, s in enumerate(self.scenarios):
            self._by_type[s.problem_type].append(i)
        self._profiles_by_type: dict[ProblemType, list[int]] = defaultdict(list)
        for i, p in enumerate(self.profiles):
            self._profiles_by_type[p.problem_type].append(i)

    @staticmethod
    def _copy_pools(source: Path, s_path: Path, c_path: Path) -> None:
        """Start from the pools of ``source`` (a run folder, or any folder with the two pool
        files): every shard of a run can start from the same pools."""
        if not (source / SCENARIOS_FILE).is_file():
            raise ConfigError(
                f"seed_pools {source}: no {SCENARIOS_FILE} there; give a run folder "
                "(OUT.jsonl.run) or a folder with pool_scenarios.jsonl and pool_profiles.jsonl"
            )
        for name, target in ((PROFILES_FILE, c_path), (SCENARIOS_FILE, s_path)):
            if (source / name).is_file():  # scenarios last: their presence marks a started run
                tmp = target.with_name(target.name + ".tmp")
                shutil.copyfile(source / name, tmp)
                tmp.replace(target)

    @staticmethod
    def _seed_file(path: Path, items: Iterable[Scenario | SeekerProfile]) -> None:
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            for item in items:
                fh.write(item.model_dump_json() + "\n")
        tmp.replace(path)

    @staticmethod
    def _load(path: Path, model: type[T]) -> list[T]:
        out: list[T] = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                out.append(model.model_validate_json(line))
            except ValueError:
                warnings.warn(f"{path}:{number}: unreadable pool entry skipped", stacklevel=2)
        return out

    def draw_scenario(self, problem_type: ProblemType, rng: random.Random) -> Scenario:
        """A seed from S of the same type when one exists, else any seed."""
        with self._lock:
            same = self._by_type.get(problem_type)
            index = rng.choice(same) if same else rng.randrange(len(self.scenarios))
            return self.scenarios[index]

    def draw_profile(self, problem_type: ProblemType, rng: random.Random) -> SeekerProfile:
        """An example from C, preferring the same problem type."""
        with self._lock:
            same = self._profiles_by_type.get(problem_type)
            index = rng.choice(same) if same else rng.randrange(len(self.profiles))
            return self.profiles[index]

    def add_scenario(self, item: Scenario) -> None:
        """Self-iteration: a finished dialogue joins S."""
        with self._lock:
            self._by_type[item.problem_type].append(len(self.scenarios))
            self.scenarios.append(item)
            self._s_writer.write(json.loads(item.model_dump_json()))

    def add_profile(self, item: SeekerProfile) -> None:
        """A new profile joins C."""
        with self._lock:
            self._profiles_by_type[item.problem_type].append(len(self.profiles))
            self.profiles.append(item)
            self._c_writer.write(json.loads(item.model_dump_json()))

    def close(self) -> None:
        """Close the pool files."""
        self._s_writer.close()
        self._c_writer.close()
