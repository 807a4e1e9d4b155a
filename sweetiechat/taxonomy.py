"""The 8 ESConv support strategies and the 45 problem types (docs/method.md, "Data model").

>>> parse_strategy("[Question]") is Strategy.QUESTION
True
>>> parse_strategy("Reflection of Feelings").value
'Reflection of feelings'
>>> parse_problem_type("job crisis").value
'Job Crisis'
"""

from __future__ import annotations

import re
from enum import Enum

from sweetiechat.errors import UserError

__all__ = [
    "CATEGORIES",
    "PROBLEM_TYPE_WEIGHTS",
    "STRATEGY_DEFINITIONS",
    "ProblemType",
    "Strategy",
    "UnknownLabelError",
    "parse_problem_type",
    "parse_strategy",
]


class UnknownLabelError(UserError, ValueError):
    """A strategy or problem-type name that is not in the taxonomy."""


class Strategy(str, Enum):
    """The 8 support strategies, spelled exactly as ESConv spells them, in ESConv's id order."""

    QUESTION = "Question"
    RESTATEMENT = "Restatement or Paraphrasing"
    REFLECTION = "Reflection of feelings"
    SELF_DISCLOSURE = "Self-disclosure"
    AFFIRMATION = "Affirmation and Reassurance"
    SUGGESTIONS = "Providing Suggestions"
    INFORMATION = "Information"
    OTHERS = "Others"

    def __str__(self) -> str:
        return self.value

    @property
    def definition(self) -> str:
        """A one-sentence meaning of the strategy, used in prompts."""
        return STRATEGY_DEFINITIONS[self]


STRATEGY_DEFINITIONS: dict[Strategy, str] = {
    Strategy.QUESTION: "Ask an open question to learn more about the seeker's situation and "
    "feelings.",
    Strategy.RESTATEMENT: "Restate or paraphrase what the seeker said, briefly, to show you "
    "understood it.",
    Strategy.REFLECTION: "Name the feelings the seeker seems to have, to show you understand "
    "how they feel.",
    Strategy.SELF_DISCLOSURE: "Share a similar experience of your own, or how you felt in a "
    "similar situation, to show empathy.",
    Strategy.AFFIRMATION: "Affirm the seeker's strengths, motivation and efforts, and reassure "
    "them.",
    Strategy.SUGGESTIONS: "Offer one or two concrete, practical options the seeker could try, "
    "without telling them what to do.",
    Strategy.INFORMATION: "Give useful facts, data, resources or an explanation that bears on "
    "the seeker's problem.",
    Strategy.OTHERS: "Anything else: greetings, small talk, thanks or a warm closing.",
}


def _norm(text: str) -> str:
    text = text.strip().strip("[](){}<>\"'`*.:;!, \t\n").lower()
    text = re.sub(r"[\s_\-]+", " ", text)
    return text.replace("&", "and")


_STRATEGY_ALIASES: dict[str, Strategy] = {_norm(s.value): s for s in Strategy}
_STRATEGY_ALIASES.update(
    {
        "restatement": Strategy.RESTATEMENT,
        "paraphrasing": Strategy.RESTATEMENT,
        "reflection": Strategy.REFLECTION,
        "reflection of feeling": Strategy.REFLECTION,
        "self disclosure": Strategy.SELF_DISCLOSURE,
        "affirmation": Strategy.AFFIRMATION,
        "reassurance": Strategy.AFFIRMATION,
        "affirmation or reassurance": Strategy.AFFIRMATION,
        "suggestions": Strategy.SUGGESTIONS,
        "providing suggestion": Strategy.SUGGESTIONS,
        "provide suggestions": Strategy.SUGGESTIONS,
        "questions": Strategy.QUESTION,
        "other": Strategy.OTHERS,
    }
)


def parse_strategy(text: str | Strategy) -> Strategy:
    """Map a model's or a dataset's spelling of a strategy to the canonical one.

    Case, brackets, quotes, surrounding punctuation and ``-``/``_`` are ignored, and a label
    followed by an explanation (``"Question: because ..."``) is accepted.

    Raises:
        UnknownLabelError: the text names none of the 8 strategies; the message lists them.
    """
    if isinstance(text, Strategy):
        return text
    key = _norm(str(text))
    if key in _STRATEGY_ALIASES:
        return _STRATEGY_ALIASES[key]
    # "Question: why ..." or "[Question] Why ..." — take the leading label.
    head = re.split(r"[\]:\n]|\s[-–—]\s", str(text).strip().lstrip("[("), maxsplit=1)[0]
    if _norm(head) in _STRATEGY_ALIASES:
        return _STRATEGY_ALIASES[_norm(head)]
    valid = ", ".join(s.value for s in Strategy)
    raise UnknownLabelError(f"unknown strategy {text!r}; valid strategies are: {valid}")


class ProblemType(str, Enum):
    """The 45 problem types of the role-played dataset (docs/method.md, "Data model")."""

    # Emotional and Mental Health Issues
    ANGER_MANAGEMENT = "Anger Management Issues"
    ANXIETY_DISORDERS = "Anxiety Disorders"
    BIPOLAR_DISORDER = "Bipolar Disorder"
    DEATH_OF_LOVED_ONE = "Death of a Loved One"
    EMOTIONAL_FLUCTUATIONS = "Emotional Fluctuations"
    GRIEF_AND_LOSS = "Grief and Loss"
    IDENTITY_CRISES = "Identity Crises"
    OCD = "Obsessive-Compulsive Disorder (OCD)"
    ONGOING_DEPRESSION = "Ongoing Depression"
    PTSD = "Post-Traumatic Stress Disorder (PTSD)"
    SCHIZOPHRENIA = "Schizophrenia"
    SELF_ESTEEM = "Self-Esteem Issues"
    SPIRITUALITY = "Spirituality and Faith"
    SEXUAL_ORIENTATION = "Sexual Orientation"
    HEALING_FROM_ASSAULT = "Healing from Sexual Assault or Domestic Violence"
    # Interpersonal Relationships
    BREAKUPS = "Breakups or Divorce"
    CONFLICTS = "Conflicts or Communication Problems"
    ISSUES_WITH_CHILDREN = "Issues with Children"
    ISSUES_WITH_PARENTS = "Issues with Parents"
    MARITAL_PROBLEMS = "Marital Problems"
    PROBLEMS_WITH_FRIENDS = "Problems with Friends"
    SCHOOL_BULLYING = "School Bullying"
    CULTURE_SHOCK = "Culture Shock"
    # Personal Development
    APPEARANCE_ANXIETY = "Appearance Anxiety"
    CAREER_DEVELOPMENT = "Career Development Issues"
    GOAL_SETTING = "Goal Setting Issues"
    MOTIVATION = "Motivation Problems"
    PERSONAL_GROWTH = "Personal Growth Challenges"
    PROCRASTINATION = "Procrastination"
    SLEEP_PROBLEMS = "Sleep Problems"
    # Life and Work Stress
    ACADEMIC_PRESSURE = "Academic Pressure"
    BURNOUT = "Burnout"
    CHRONIC_STRESS = "Chronic Stress"
    FINANCIAL_PROBLEMS = "Financial Problems"
    HEALTH_PROBLEMS = "Health Problems"
    JOB_CRISIS = "Job Crisis"
    LIFE_TRANSITIONS = "Life Transitions (e.g., Retirement, Relocation)"
    WORKPLACE_STRESS = "Workplace Stress"
    # Behavioral Issues
    ADDICTIVE_BEHAVIORS = "Addictive Behaviors (e.g., Drug Use, Gambling)"
    ALCOHOL_ABUSE = "Alcohol Abuse"
    COMPULSIVE_BEHAVIORS = "Compulsive Behaviors"
    EATING_DISORDERS = "Eating Disorders"
    INTERNET_ADDICTION = "Internet Addiction"
    SELF_HARM = "Self-Harm Behaviors"
    DEBT_PROBLEMS = "Debt Problems"

    def __str__(self) -> str:
        return self.value

    @property
    def category(self) -> str:
        """The category (one of 5) that the problem type belongs to."""
        return _CATEGORY_OF[self]


P = ProblemType
CATEGORIES: dict[str, tuple[ProblemType, ...]] = {
    "Emotional and Mental Health Issues": tuple(list(P)[0:15]),
    "Interpersonal Relationships": tuple(list(P)[15:23]),
    "Personal Development": tuple(list(P)[23:30]),
    "Life and Work Stress": tuple(list(P)[30:38]),
    "Behavioral Issues": tuple(list(P)[38:45]),
}
_CATEGORY_OF = {p: cat for cat, members in CATEGORIES.items() for p in members}

#: The original dataset's dialogue count per type (sums to 3,757): the default sampling mix.
PROBLEM_TYPE_WEIGHTS: dict[ProblemType, int] = dict(
    zip(
        P,
        [
            28,
            20,
            25,
            27,
            24,
            29,
            58,
            26,
            176,
            34,
            25,
            16,
            29,
            35,
            67,
            123,
            201,
            173,
            335,
            74,
            322,
            172,
            28,
            90,
            23,
            21,
            18,
            35,
            83,
            155,
            187,
            28,
            29,
            132,
            149,
            217,
            241,
            33,
            30,
            75,
            35,
            36,
            28,
            43,
            22,
        ],
        strict=True,
    )
)

#: ESConv's own problem-type spellings, mapped onto the 45 types.
ESCONV_PROBLEM_TYPES: dict[str, ProblemType] = {
    "ongoing depression": P.ONGOING_DEPRESSION,
    "job crisis": P.JOB_CRISIS,
    "breakup with partner": P.BREAKUPS,
    "problems with friends": P.PROBLEMS_WITH_FRIENDS,
    "academic pressure": P.ACADEMIC_PRESSURE,
    "sleep problems": P.SLEEP_PROBLEMS,
    "procrastination": P.PROCRASTINATION,
    "appearance anxiety": P.APPEARANCE_ANXIETY,
    "alcohol abuse": P.ALCOHOL_ABUSE,
    "conflict with parents": P.ISSUES_WITH_PARENTS,
    "issues with children": P.ISSUES_WITH_CHILDREN,
    "issues with parents": P.ISSUES_WITH_PARENTS,
    "school bullying": P.SCHOOL_BULLYING,
}

_PROBLEM_ALIASES: dict[str, ProblemType] = {_norm(p.value): p for p in P}
_PROBLEM_ALIASES.update({_norm(k): v for k, v in ESCONV_PROBLEM_TYPES.items()})
_PROBLEM_ALIASES.update(
    {_norm(re.sub(r"\s*\(.*\)", "", p.value)): p for p in P}  # "Life Transitions", "OCD"...
)
_PROBLEM_ALIASES.update(
    {_norm(m.group(1)): p for p in P if (m := re.search(r"\(([A-Z]+)\)$", p.value))}
)


def parse_problem_type(text: str | ProblemType) -> ProblemType:
    """Map a problem-type name (ours, an abbreviation, or ESConv's) to one of the 45.

    Raises:
        UnknownLabelError: the text names none of the 45 types.
    """
    if isinstance(text, ProblemType):
        return text
    key = _norm(str(text))
    if key in _PROBLEM_ALIASES:
        return _PROBLEM_ALIASES[key]
    raise UnknownLabelError(
        f"unknown problem type {text!r}; run `sweetiechat problem-types` for the 45 valid names"
    )
