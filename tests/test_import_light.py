import subprocess
import sys


def test_import_does_not_load_heavy_modules():
    code = (
        "import sys, sweetiechat, sweetiechat.cli\n"
        "heavy = [m for m in ('torch', 'transformers', 'langchain_openai', 'sklearn', "
        "'matplotlib', 'ray', 'peft', 'trl', 'scipy', 'datasets') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_package_is_typed():
    from importlib.resources import files

    assert files("sweetiechat").joinpath("py.typed").is_file()


def test_notebook_imports_from_the_top_package_stay_light():
    code = (
        "import sys\n"
        "from sweetiechat import (Conversation, SeekerAgent, SupporterAgent, PromptedCounselor,\n"
        "    FreeSupporterAgent, OpenAITestServer, LangChainBackend, generate_dialogues,\n"
        "    LikelihoodCounselor, Strategy, Dialogue)\n"
        "heavy = [m for m in ('torch', 'transformers', 'langchain_openai', 'sklearn', "
        "'matplotlib', 'ray', 'peft', 'trl', 'scipy', 'datasets') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_every_public_name_resolves_to_its_module():
    import sweetiechat
    from sweetiechat.agents.seeker import SeekerAgent
    from sweetiechat.conversation import Conversation

    for name in sweetiechat.__all__:
        assert getattr(sweetiechat, name) is not None, name
    assert set(sweetiechat.__all__) <= set(dir(sweetiechat))
    assert sweetiechat.SeekerAgent is SeekerAgent and sweetiechat.Conversation is Conversation
    try:
        sweetiechat.NoSuchThing  # noqa: B018
    except AttributeError as err:
        assert "NoSuchThing" in str(err)
    else:
        raise AssertionError("an unknown name must raise AttributeError")
