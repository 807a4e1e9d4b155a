import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_custom_roles_example_runs():
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "custom_roles.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "--- no counselor ---" in out.stdout
    assert "supporter [Reflection of feelings]: It sounds painful" in out.stdout
