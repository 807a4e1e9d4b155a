"""The roles: one per file. Agents keep no private state: the ``Dialogue`` is the memory.

``LikelihoodCounselor`` (torch) is imported lazily from :mod:`sweetiechat.agents.likelihood`.
"""

from sweetiechat.agents.base import Agent, AgentError, render_history, strategy_list
from sweetiechat.agents.counselor import (
    DEFAULT_STRATEGY,
    CounselorAgent,
    PromptedCounselor,
    ServedCounselor,
    StrategyChoice,
)
from sweetiechat.agents.human import HumanSeeker, ScriptedSeeker
from sweetiechat.agents.seeker import SeekerAgent, SeekerReply
from sweetiechat.agents.slots import Counselor, FreeSupporter, Seeker, Supporter
from sweetiechat.agents.supporter import FreeSupporterAgent, SupporterAgent
from sweetiechat.agents.writers import ProfileWriter, ScenarioWriter

__all__ = [
    "DEFAULT_STRATEGY",
    "Agent",
    "AgentError",
    "Counselor",
    "CounselorAgent",
    "FreeSupporter",
    "FreeSupporterAgent",
    "HumanSeeker",
    "LikelihoodCounselor",
    "ProfileWriter",
    "PromptedCounselor",
    "ScenarioWriter",
    "ScriptedSeeker",
    "Seeker",
    "SeekerAgent",
    "SeekerReply",
    "ServedCounselor",
    "StrategyChoice",
    "Supporter",
    "SupporterAgent",
    "render_history",
    "strategy_list",
]


def __getattr__(name: str) -> object:
    if name == "LikelihoodCounselor":
        from sweetiechat.agents.likelihood import LikelihoodCounselor

        return LikelihoodCounselor
    raise AttributeError(name)
