"""The quickstart notebook runs from top to bottom, so it can't rot."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "quickstart.ipynb"


@pytest.mark.slow
def test_quickstart_notebook_runs_and_plots(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError, with the cell and its traceback, on failure
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "test server at http://127.0.0.1:" in text
    # The dialogue: the scripted seeker closes at its 6th line; every supporter turn has a strategy.
    assert text.count("seeker: ") == 6 and "I'll talk to her tonight. Bye!" in text
    assert text.count("supporter [") == 5
    usage = re.search(r"11 utterances; calls=(\d+)", text)
    assert usage and int(usage.group(1)) >= 16  # recorded for a ChatOpenAI passed directly
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1


def test_quickstart_notebook_is_clean_json():
    nb = json.loads(NOTEBOOK.read_text())
    assert nb["nbformat"] == 4
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    joined = "\n".join(sources)
    for needed in ("from sweetiechat import", "OpenAITestServer", "ChatOpenAI", "await"):
        assert needed in joined, needed
    assert "server.stop()" in sources[-1]
