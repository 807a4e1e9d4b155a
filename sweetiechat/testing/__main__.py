"""Run the test server from a shell: ``python -m sweetiechat.testing --latency 0.5``.

Prints the base URL on its first line, then serves until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading

from sweetiechat.testing.server import FAULTS, FaultConfig, OpenAITestServer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sweetiechat.testing", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated kinds")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    faults = FaultConfig(rate=args.fault_rate, kinds=tuple(args.faults.split(",")), seed=args.seed)
    server = OpenAITestServer(latency=args.latency, faults=faults, port=args.port).start()
    print(server.base_url, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
