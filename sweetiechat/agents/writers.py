"""The Scenario and Profile writers (docs/method.md, "Scenario generation" and
"Profile generation")."""

from __future__ import annotations

from sweetiechat._async import run_sync
from sweetiechat.agents.base import Agent, AgentError
from sweetiechat.taxonomy import ProblemType
from sweetiechat.types import Scenario, SeekerProfile

__all__ = ["ProfileWriter", "ScenarioWriter"]


class ScenarioWriter(Agent):
    """Writes a new, specific, first-person scenario for a problem type, after an example.

    A scenario of 20 words or fewer is rejected and asked for again.
    """

    prompt_name = "scenario_writer"
    min_words = 21

    async def awrite(self, problem_type: ProblemType, example: Scenario | None) -> Scenario:
        """A new scenario for ``problem_type``."""
        values = {
            "problem_type": problem_type.value,
            "example": example.text if example else "(none)",
        }
        for _ in range(self.attempts):
            text = await self._ask(values, max_sentences=5)
            if len(text.split()) >= self.min_words:
                return Scenario(problem_type=problem_type, text=text)
        raise AgentError(f"ScenarioWriter ({self.name}) wrote no scenario over 20 words")

    def write(self, problem_type: ProblemType, example: Scenario | None) -> Scenario:
        """Synchronous :meth:`awrite`."""
        return run_sync(self.awrite(problem_type, example))


class ProfileWriter(Agent):
    """Writes a one-sentence seeker profile that fits a problem type and scenario."""

    prompt_name = "profile_writer"

    async def awrite(
        self, problem_type: ProblemType, scenario: str, example: SeekerProfile
    ) -> SeekerProfile:
        """A new profile; keep it as the next example with ``pool.add``."""
        text = await self._ask(
            {
                "problem_type": problem_type.value,
                "scenario": scenario,
                "example_problem_type": example.problem_type.value,
                "example_scenario": example.scenario,
                "example_profile": example.text,
            },
            max_sentences=1,
        )
        return SeekerProfile(problem_type=problem_type, scenario=scenario, text=text)

    def write(
        self, problem_type: ProblemType, scenario: str, example: SeekerProfile
    ) -> SeekerProfile:
        """Synchronous :meth:`awrite`."""
        return run_sync(self.awrite(problem_type, scenario, example))
