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

FAULT_HELP = {
    "rate_limit": "429 with Retry-After",
    "server_error": "500",
    "hang": "no answer until long after the client's timeout",
    "malformed_json": "200 with a body that is not JSON",
    "empty_content": 'a 200 answer with "content": ""',
    "invalid_strategy": "a counselor answer that is no strategy (other roles: no fault)",
}


def _fault_kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in FAULTS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(
            f"unknown fault kind(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(FAULTS)}"
        )
    return kinds


def main(argv: list[str] | None = None) -> None:
    kinds = "\n".join(f"  {k:<17} {FAULT_HELP.get(k, '')}" for k in FAULTS)
    parser = argparse.ArgumentParser(
        prog="python -m sweetiechat.testing",
        description=__doc__,
        epilog=f"fault kinds (--faults):\n{kinds}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument(
        "--fault-rate", type=float, default=0.0, help="share of requests that get a fault (0-1)"
    )
    parser.add_argument(
        "--faults",
        type=_fault_kinds,
        default=FAULTS,
        help="comma-separated fault kinds (listed below); default: all",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    args = parser.parse_args(argv)
    if not 0.0 <= args.fault_rate <= 1.0:
        parser.error(f"--fault-rate {args.fault_rate}: give a share between 0 and 1")
    faults = FaultConfig(rate=args.fault_rate, kinds=args.faults, seed=args.seed)
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
