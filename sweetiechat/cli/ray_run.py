"""``sweetiechat generate --ray``: the shards of one run as Ray tasks, one combined progress
display and summary, and the merged output."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sweetiechat.cli._common import console, err_console
from sweetiechat.config import GenerationConfig
from sweetiechat.io import read_dialogues
from sweetiechat.shards import Shard


def generate_on_ray(
    n: int,
    out: Path,
    config: GenerationConfig,
    resume: bool,
    shards: int,
    address: str | None,
    show: int,
) -> None:
    """Run the shards on Ray with a progress bar per shard and one for the run."""
    from sweetiechat.cli.generate import _summary, render_dialogue
    from sweetiechat.distributed import import_ray, run_on_ray
    from sweetiechat.factory import preflight

    import_ray()  # one line saying what to install, before any work
    with console.status("checking backends and preparing models ..."):
        preflight(config)
    sizes = {str(Shard(k, shards)): len(Shard(k, shards).indices(n)) for k in range(1, shards + 1)}
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ]
    with Progress(*columns, console=err_console) as progress:
        total = progress.add_task(f"run ({shards} shards)", total=n)
        bars = {k: progress.add_task(f"shard {k}", total=size) for k, size in sizes.items()}

        def update(done: dict[str, int]) -> None:
            for key, count in done.items():
                progress.update(bars[key], completed=count)
            progress.update(total, completed=sum(done.values()))

        result = run_on_ray(
            n, out, config, shards=shards, address=address, resume=resume, on_progress=update
        )
    _summary(result.state, out)
    retried = [r for r in result.shards if r.attempt > 1]
    for r in retried:
        err_console.print(
            f"[yellow]shard {r.shard}[/] ran {r.attempt} times (a worker died; Ray retried it "
            "and it resumed from its file)"
        )
    if result.merged is None:
        err_console.print(
            f"[red]not merged:[/] some dialogues failed; the shards are in "
            f"{', '.join(str(p) for p in result.outputs)}. Rerun the same command with "
            "--resume to fill them in"
        )
        raise typer.Exit(1)
    console.print(f"merged {result.merged.written} dialogues into {out}")
    if show:
        for d in deque(read_dialogues(out), maxlen=show):
            console.print(render_dialogue(d), soft_wrap=False)
