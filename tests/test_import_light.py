import subprocess
import sys


def test_import_does_not_load_heavy_modules():
    code = (
        "import sys, sweetiechat, sweetiechat.cli\n"
        "heavy = [m for m in ('torch', 'transformers', 'langchain_openai', 'sklearn', "
        "'matplotlib') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_package_is_typed():
    from importlib.resources import files

    assert files("sweetiechat").joinpath("py.typed").is_file()
