"""Test doubles users can use too: a real OpenAI-compatible HTTP server on 127.0.0.1 with
scripted replies per role, latency and fault injection.

>>> from sweetiechat.testing import OpenAITestServer, FaultConfig   # doctest: +SKIP
>>> with OpenAITestServer(latency=0.2, faults=FaultConfig(rate=0.1)) as server:  # doctest: +SKIP
...     print(server.base_url)
"""

from sweetiechat.testing.script import ChatRequest, Reply, RolePlayScript, detect_role
from sweetiechat.testing.server import FAULTS, FaultConfig, OpenAITestServer

__all__ = [
    "FAULTS",
    "ChatRequest",
    "FaultConfig",
    "OpenAITestServer",
    "Reply",
    "RolePlayScript",
    "detect_role",
]
