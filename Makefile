# Two commands set everything up: `make book` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PROFILE ?= cpu
SOURCE ?= english
TARGET ?= python
RESULTS ?= results

.PHONY: setup test data book study clean-book benchmarks readme-figure

setup: $(STAMP)

# torch==2.13.0 is resolved together with everything else, so pip takes the CPU
# wheel on disk instead of pulling a CUDA build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.2"
	$(BIN)/python -m pip install --quiet -e ".[book,dev,ray]"
	@touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

data: setup
	$(BIN)/transfer-laws data build

book: setup
	$(BIN)/transfer-laws book build --results $(RESULTS)

study: setup
	$(BIN)/transfer-laws study --source $(SOURCE) --target $(TARGET) --profile $(PROFILE) --results $(RESULTS)

benchmarks: setup
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/fitting.py

# The README's picture: the first study's Fig. 1 from the last `make book`.
readme-figure:
	cp book/generated/figures/fig1-english-python-cpu.svg book/_static/readme-fig1.svg

clean-book:
	rm -rf _build book/generated
