import pytest

from sweetiechat.text import clean_utterance, split_sentences, truncate_sentences


@pytest.mark.parametrize(
    "raw, clean",
    [
        ('Supporter: "I hear you."', "I hear you."),
        ("**Seeker:** I lost my job.", "I lost my job."),
        ("[Question] How long has it been?", "How long has it been?"),
        ("Supporter: [Question] Why?", "Why?"),
        ("I am so tired.\nSupporter: I understand.", "I am so tired."),
        ("I told my friend: no more.", "I told my friend: no more."),
        ("Here's my reply: That sounds hard.", "That sounds hard."),
        ("“I miss her.”", "I miss her."),
        ("First part.\n\nA second paragraph the model rambled on with.", "First part."),
    ],
)
def test_clean_utterance_strips_prefixes_quotes_and_other_speakers(raw, clean):
    assert clean_utterance(raw) == clean


def test_three_sentence_limit_uses_a_real_splitter():
    text = "Dr. Smith said hi. I was at 3.5 km. Then it rained. Then I went home."
    assert split_sentences(text)[0] == "Dr. Smith said hi."
    assert truncate_sentences(text, 3) == "Dr. Smith said hi. I was at 3.5 km. Then it rained."
    assert clean_utterance(text) == "Dr. Smith said hi. I was at 3.5 km. Then it rained."
    assert clean_utterance("Only one.") == "Only one."


def test_boundaries_pysbd_misses_in_chat_are_split():
    assert split_sentences("It supports me. I hope so.") == ["It supports me.", "I hope so."]
    assert split_sentences("I said no. I meant it.") == ["I said no.", "I meant it."]
    assert split_sentences("See No. 5 and Dr. Smith.") == ["See No. 5 and Dr. Smith."]


def test_blank_output_cleans_to_empty():
    assert clean_utterance("Supporter:   ") == ""
