import pytest

from sweetiechat.safety import detect_crisis


@pytest.mark.parametrize(
    "text",
    [
        "I keep thinking about suicide.",
        "Sometimes I want to kill myself.",
        "I've been cutting myself again.",
        "Everyone would be better off if I was dead.",
        "I just want to die.",
        "I don't want to live anymore.",
        "I'm thinking of ending it all tonight.",
        "I took an overdose last year.",
        "There's no point in living.",
    ],
)
def test_crisis_language_is_detected(text):
    assert detect_crisis(text)


@pytest.mark.parametrize(
    "text",
    [
        "This deadline is killing me.",
        "I will end my shift early today.",
        "My phone died and I missed the call.",
        "I'm dying to see the new movie.",
        "I cut my hair short.",
    ],
)
def test_everyday_language_is_not_flagged(text):
    assert not detect_crisis(text)
