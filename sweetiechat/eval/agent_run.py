"""``sweetiechat agent eval`` as a library call: :func:`evaluate_agent`.

Reads the dialogues, works out the runs (several adapters, e.g. the seeds of one training,
or several sampling seeds), generates every missing response in both context modes (see
:mod:`sweetiechat.eval.agent`), then scores each run and mode and writes to ``out_dir``:

- ``generations.jsonl``: one record per response, appended as written (resumable);
- ``eval.json``: the settings, checked on ``resume``;
- ``metrics.json``: per run and mode the metrics and generation speed, and per mode the
  mean ± std over runs (written atomically after every run);
- ``metrics.png``: the summary as bars.

Example (the untuned embedded model on the first 5 ESConv test dialogues)::

    from sweetiechat.eval.agent_run import AgentEvalSettings, evaluate_agent
    report = evaluate_agent(AgentEvalSettings(data="esconv/test.json", limit=5), Path("ev"))
    print(report["summary"]["generated"]["bleu2"])
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sweetiechat.errors import UserError
from sweetiechat.eval.agent import (
    GENERATIONS,
    MODES,
    GenerationRecord,
    GenerationsWriter,
    Mode,
    build_chains,
    done_by_run,
    supporter_targets,
)
from sweetiechat.eval.agent_gen import GenStats, LocalGenerator, Sampling
from sweetiechat.types import Dialogue

__all__ = ["AgentEvalSettings", "RunSpec", "evaluate_agent", "resolve_runs"]

SETTINGS = "eval.json"
METRICS = "metrics.json"
#: Settings that may change between a run and its resume.
_FREE = {"limit", "batch_size", "concurrency", "metrics", "bertscore_model", "tokenizer"}


class AgentEvalSettings(BaseModel):
    """What to evaluate, and how."""

    model_config = ConfigDict(extra="forbid")

    data: str
    """The dialogues (ESConv's ``test.json`` or any dialogue file)."""
    model: str = "embedded"
    """``embedded`` (SmolLM2), a local model folder, or an API model's name."""
    adapters: list[str] = Field(default_factory=list)
    """LoRA adapter folders (each a fine-tuned agent, or a folder of seeds); one run each."""
    backend: Literal["local", "openai", "langchain", "embedded"] = "local"
    """``local`` runs ``model`` in-process; the others go through the backend factory."""
    base_url: str | None = None
    api_key_env: str | None = None
    config: str | None = None
    """A generate config file whose supporter role gives the API backend's settings."""
    modes: list[Mode] = Field(default_factory=lambda: list(MODES))
    limit: int | None = Field(default=None, ge=1)
    """The first N dialogues."""
    seeds: list[int] = Field(default_factory=lambda: [0])
    """Sampling seeds (several: one run each)."""
    temperature: float = 0.5
    top_p: float = 0.9
    repetition_penalty: float = 1.15
    max_new_tokens: int = Field(default=64, ge=1)
    max_length: int | None = None
    """Prompt + response tokens for a local model (default: the adapter's training length,
    else 1024); longer histories lose their oldest turns."""
    batch_size: int = Field(default=16, ge=1)
    concurrency: int = Field(default=4, ge=1)
    tokenizer: str = "llama3"
    bertscore_model: str | None = "minilm"
    metrics: list[str] = Field(
        default_factory=lambda: ["bleu", "rouge", "distinct", "meteor", "bertscore"]
    )

    def sampling(self) -> Sampling:
        """The decoding settings."""
        return Sampling(self.temperature, self.top_p, self.repetition_penalty, self.max_new_tokens)

    @property
    def is_local(self) -> bool:
        """True when the model runs in-process."""
        return self.backend in ("local", "embedded")

    def identity(self) -> dict[str, Any]:
        """The settings that decide the generations (checked on resume)."""
        return self.model_dump(mode="json", exclude=_FREE)


@dataclass(frozen=True)
class RunSpec:
    """One run: a model (maybe an adapter) and a sampling seed."""

    seed: int
    """The run's id in the records: the sampling seed, or the adapter's training seed."""
    sampling_seed: int
    adapter: str | None
    with_strategy: bool
    system: str
    max_length: int
    label: str


def _adapter_folders(path: str) -> list[Path]:
    """An adapter folder, or the adapters inside a folder of seeds (``agent train --seeds``)."""
    from sweetiechat.agents.tuned import AGENT_FILE

    folder = Path(path).expanduser()
    if folder.is_dir() and not (folder / AGENT_FILE).is_file():
        inner = sorted(p.parent for p in folder.glob(f"*/{AGENT_FILE}"))
        if inner:
            return inner
    return [folder]


def resolve_runs(settings: AgentEvalSettings) -> list[RunSpec]:
    """The runs to make, every adapter checked against the base model first.

    Raises:
        UserError: a missing model or adapter, an adapter of another base model or of a
            seeker, adapters with an API model, or several adapters and several seeds at once.
    """
    from sweetiechat.agents.tuned import AGENT_SYSTEM_PROMPT, check_base, read_agent_info

    if settings.is_local and settings.model != "embedded":
        folder = Path(settings.model).expanduser()
        if not folder.is_dir():
            raise UserError(
                f"model {settings.model}: no such folder; give 'embedded', a local model "
                "folder, or an API model with --backend openai"
            )
        if not (folder / "config.json").is_file():
            raise UserError(f"model {settings.model}: no config.json; is it a transformers model?")
    if not settings.adapters:
        return [
            RunSpec(s, s, None, False, AGENT_SYSTEM_PROMPT, settings.max_length or 1024, "base")
            for s in settings.seeds
        ]
    if not settings.is_local:
        raise UserError("--adapter needs a local model (--model embedded or a folder), not an API")
    folders = [f for a in settings.adapters for f in _adapter_folders(a)]
    if len(folders) > 1 and len(settings.seeds) > 1:
        raise UserError(
            f"{len(folders)} adapters and {len(settings.seeds)} sampling seeds: give several "
            "adapters (the training seeds) or several --seeds, not both"
        )
    infos = [read_agent_info(f) for f in folders]
    for folder, info in zip(folders, infos, strict=True):
        if info.role != "supporter":
            raise UserError(f"{folder}: a {info.role} agent; evaluate a supporter adapter")
        check_base(info, settings.model, folder)
    if len(folders) == 1:
        info = infos[0]
        return [
            RunSpec(
                s, s, str(folders[0]), info.with_strategy, info.system_prompt,
                settings.max_length or info.max_length, folders[0].name,
            )
            for s in settings.seeds
        ]  # fmt: skip
    train_seeds = [i.seed for i in infos]
    unique = None not in train_seeds and len(set(train_seeds)) == len(train_seeds)
    return [
        RunSpec(
            int(info.seed) if unique and info.seed is not None else i, settings.seeds[0],
            str(folder), info.with_strategy, info.system_prompt,
            settings.max_length or info.max_length, folder.name,
        )
        for i, (folder, info) in enumerate(zip(folders, infos, strict=True))
    ]  # fmt: skip


def load_dialogues(settings: AgentEvalSettings) -> list[Dialogue]:
    """The first ``limit`` dialogues of the data file.

    Raises:
        UserError: a missing or empty file, a bad record, or no supporter turn to answer.
    """
    from itertools import islice

    from sweetiechat.io import read_dialogues

    if not Path(settings.data).is_file():
        raise UserError(f"{settings.data}: no such data file; give ESConv's test.json")
    dialogues = list(islice(read_dialogues(settings.data), settings.limit))
    if not any(supporter_targets(d) for d in dialogues):
        raise UserError(
            f"{settings.data}: no supporter turn after a seeker turn in "
            f"{len(dialogues)} dialogue(s); nothing to evaluate"
        )
    return dialogues


def _check_out(out: Path, settings: AgentEvalSettings, resume: bool) -> None:
    gens, saved = out / GENERATIONS, out / SETTINGS
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder; choose another --out")
    started = (gens.is_file() and gens.stat().st_size > 0) or saved.is_file()
    if started and not resume:
        raise UserError(
            f"{out} already holds an evaluation; pass --resume to continue it, or another --out"
        )
    if resume and saved.is_file():
        before = json.loads(saved.read_text(encoding="utf-8"))
        now = settings.identity()
        changed = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if changed:
            raise UserError(
                f"{out} was evaluated with other settings ({', '.join(changed)}); "
                "resume with the same ones, or choose another --out"
            )


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def build_api_backend(settings: AgentEvalSettings) -> Any:
    """The chat backend of an API model (the factory's, as ``generate`` builds it)."""
    from sweetiechat.backends.wrappers import UsageLedger
    from sweetiechat.config import RoleConfig, load_config
    from sweetiechat.factory import build_backend, check_server

    base = load_config(settings.config).role("supporter") if settings.config else RoleConfig()
    update: dict[str, Any] = {
        "temperature": settings.temperature,
        "max_tokens": settings.max_new_tokens,
    }
    if settings.backend != "local":
        update["backend"] = settings.backend
    if settings.model != "embedded" or settings.backend == "embedded":
        update["model"] = None if settings.model == "embedded" else settings.model
    if settings.base_url is not None:
        update["base_url"] = settings.base_url
    if settings.api_key_env is not None:
        update["api_key_env"] = settings.api_key_env
    cfg = RoleConfig.model_validate({**base.model_dump(exclude_unset=True), **update})
    if cfg.backend == "openai":
        check_server(cfg, "supporter", timeout=10.0)
    return build_backend(cfg, "supporter", UsageLedger())


def evaluate_agent(
    settings: AgentEvalSettings,
    out_dir: str | Path,
    *,
    resume: bool = False,
    on_record: Callable[[GenerationRecord], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
    on_step: Callable[[str], None] | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """Generate, score and write an evaluation (see the module docstring).

    Args:
        settings: the evaluation.
        out_dir: the output folder.
        resume: continue the evaluation already in ``out_dir``.
        on_record: called with every new record (progress).
        on_start: called once with (responses in all, responses already written).
        on_step: called with a phase name ("generating <label> <mode> seed N", metric names).
        plots: write ``metrics.png``.

    Returns:
        The contents of ``metrics.json``.
    """
    from sweetiechat._async import run_sync
    from sweetiechat.eval.agent_gen import agenerate_api, generate_local
    from sweetiechat.eval.agent_score import plot_summary, score_run, summarize
    from sweetiechat.metrics.response import parse_metrics
    from sweetiechat.tokenizers import get_tokenizer

    started = time.perf_counter()
    out = Path(out_dir)
    metric_names = parse_metrics(",".join(settings.metrics))
    dialogues = load_dialogues(settings)
    runs = resolve_runs(settings)
    _check_out(out, settings, resume)
    tokenizer = get_tokenizer(settings.tokenizer)
    if "meteor" in metric_names:
        from sweetiechat.metrics.wordnet import require_wordnet

        require_wordnet()
    backend = None if settings.is_local else build_api_backend(settings)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(out / SETTINGS, settings.identity())
    done = done_by_run(out / GENERATIONS)
    ids = {f"{d.id}:{t}" for d in dialogues for t in supporter_targets(d)}
    per_run = len(ids)
    if on_start:
        already = sum(
            len(ids & set(done.get((m, r.seed), {}))) for r in runs for m in settings.modes
        )
        total = per_run * len(runs) * len(settings.modes)
        on_start(total, already)
    old = json.loads((out / METRICS).read_text()) if resume and (out / METRICS).is_file() else {}
    old_stats = {(r["seed"], r["mode"]): r.get("generation") for r in old.get("runs", [])}
    writer = GenerationsWriter(out / GENERATIONS)
    model_label = settings.model if not runs[0].adapter else f"{settings.model}+{runs[0].label}"
    report: dict[str, Any] = {
        "model": model_label,
        "backend": settings.backend,
        "data": settings.data,
        "dialogues": len(dialogues),
        "responses_per_run": per_run,
        "settings": settings.model_dump(mode="json"),
        "runs": [],
    }
    try:
        for run in runs:
            if on_step:
                on_step(f"generating: {run.label}, seed {run.seed}")
            mine = {m: done.setdefault((m, run.seed), {}) for m in settings.modes}

            def keep(rec: GenerationRecord, mine: dict[Mode, Any] = mine) -> None:
                writer.write(rec)
                mine[rec.mode][rec.id] = rec
                if on_record:
                    on_record(rec)

            # both modes in one batch: the reference turns fill it around the generated chains
            chains = [c for m in settings.modes for c in build_chains(dialogues, m, mine[m])]
            stats: GenStats | None = None
            if chains and backend is None:
                generator = LocalGenerator(
                    settings.model, run.adapter, run.with_strategy, run.system,
                    run.max_length, settings.batch_size,
                )  # fmt: skip
                stats = generate_local(
                    generator, chains, settings.sampling(), run.sampling_seed, keep, run=run.seed
                )
            elif chains:
                assert backend is not None
                stats = run_sync(
                    agenerate_api(
                        backend, chains, settings.sampling(), run.sampling_seed, keep,
                        system=run.system, with_strategy=run.with_strategy,
                        concurrency=settings.concurrency, run=run.seed,
                    )
                )  # fmt: skip
            for mode in settings.modes:
                records = [mine[mode][i] for i in sorted(ids) if i in mine[mode]]
                scores = score_run(
                    records,
                    tokenizer,
                    bertscore_model=settings.bertscore_model
                    if "bertscore" in metric_names
                    else None,
                    metrics=metric_names,
                    on_step=on_step,
                )
                generation = old_stats.get((run.seed, mode))
                if stats:
                    generation = {**stats.to_dict(), "modes": list(settings.modes)}
                    if resume and old_stats.get((run.seed, mode)):
                        generation["resumed"] = True
                report["runs"].append(
                    {
                        "seed": run.seed,
                        "label": run.label,
                        "adapter": run.adapter,
                        "mode": mode,
                        "metrics": scores,
                        "generation": generation,
                    }
                )
                report["summary"] = summarize(report["runs"])
                report["wall_s"] = round(time.perf_counter() - started, 1)
                _write_json(out / METRICS, report)
    finally:
        writer.close()
    if plots:
        plot_summary(model_label, report, out / "metrics.png")
    return report
