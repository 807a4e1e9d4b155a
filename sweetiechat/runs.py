"""A run's folder (``<out>.run/``): its settings, and the checks that let a rerun continue
only the run it belongs to.

``run.json`` holds the seed, ``n``, the shard and the data signature
(:meth:`~sweetiechat.config.GenerationConfig.data_signature`); a resume whose data settings
differ is refused, naming what differs.
"""

from __future__ import annotations

import json
from pathlib import Path

from sweetiechat.config import GenerationConfig, signature_changes
from sweetiechat.errors import ConfigError
from sweetiechat.io import existing_ids
from sweetiechat.pools import clear_pools
from sweetiechat.shards import Shard

__all__ = ["check_output", "prepare_run", "run_folder"]


def run_folder(out: str | Path) -> Path:
    """Where a run keeps its seed pools and settings: ``<out>.run/``."""
    out = Path(out)
    return out.with_name(out.name + ".run")


def check_output(
    out: str | Path, config: GenerationConfig, resume: bool, shard: Shard | None = None
) -> set[str]:
    """The ids already in ``out``. Refuses to overwrite without ``resume``, and to resume a
    run whose data settings differ (:meth:`GenerationConfig.data_signature`): another seed,
    model, prompt, counselor, sampling setting or problem-type mix would mix two runs in one
    file. Concurrency, rate limits, timeouts and display may change.

    Raises:
        ConfigError: what differs, and what to pass instead.
    """
    out = Path(out)
    done: set[str] = set()
    if out.exists() and out.stat().st_size > 0:
        if not resume:
            raise ConfigError(
                f"{out} already exists; pass --resume to continue that run, or choose another -o"
            )
        done = existing_ids(out)
    settings = run_folder(out) / "run.json"
    if resume and settings.is_file():
        try:
            previous = json.loads(settings.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ConfigError(
                f"{settings}: cannot read the previous run's settings ({err}); "
                "delete that file only if you are sure the settings are the same"
            ) from None
        if previous.get("seed") != config.seed:
            raise ConfigError(
                f"{out} was generated with --seed {previous.get('seed')}; resume with that seed"
            )
        if previous.get("shard") != (str(shard) if shard else None):
            was = f"--shard {previous['shard']}" if previous.get("shard") else "no --shard"
            raise ConfigError(f"{out} was generated with {was}; resume it with the same")
        before = previous.get("data_signature")
        if before is not None:
            changes = signature_changes(before, config.data_signature())
            if changes:
                shown = "; ".join(changes[:6]) + (
                    f"; and {len(changes) - 6} more" if len(changes) > 6 else ""
                )
                raise ConfigError(
                    f"cannot resume {out}: it was generated with other settings ({shown}). "
                    f"Resume with the settings in {settings}, or write to another -o"
                )
    return done


def prepare_run(
    out: Path, config: GenerationConfig, resume: bool, n: int, shard: Shard | None
) -> tuple[set[str], Path]:
    """Check ``out`` (:func:`check_output`), write the run's ``run.json`` atomically, and
    clear a new run's folder of pools an earlier run left; returns (ids done, folder)."""
    done = check_output(out, config, resume, shard)
    folder = run_folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    if not resume:  # a new run: pools left by an earlier run in this folder are not its pools
        clear_pools(folder)
    settings = folder / "run.json"
    tmp = settings.with_name("run.json.tmp")
    record = {
        "seed": config.seed,
        "n": n,
        "shard": str(shard) if shard else None,
        "data_signature": config.data_signature(),
        "config": config.signature(),
    }
    tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    tmp.replace(settings)
    return done, folder
