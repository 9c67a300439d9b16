# Idempotent set-up: the venv is made once, the package (re)installed when its metadata changes.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: install test demo bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[test,onnx]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest tests

demo: $(STAMP)
	$(BIN)/tan-video demo --out runs/demo

bench: $(STAMP)
	$(BIN)/tan-video bench --complexity --out benchmarks/results

clean:
	rm -rf $(VENV) build *.egg-info
