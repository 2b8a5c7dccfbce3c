# `make demo` and `make test` are the two set-up commands; each builds .venv when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.qstore-installed
DISTS := qstore-core qstore-torch qstore-tf qstore-backend-ionq qstore-backend-gpu qstore-storage qstore-service
PYTEST_ARGS ?=

.PHONY: demo test lint bench docs install clean

$(STAMP): constraints.txt $(foreach d,$(DISTS),$(d)/pyproject.toml)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	PIP_CONSTRAINT=$(CURDIR)/constraints.txt $(PY) -m pip install --quiet \
		-e "./qstore-core[cirq,qiskit,sklearn,bench,docs]" \
		-e "./qstore-torch[bench,examples]" -e "./qstore-tf[examples]" \
		-e ./qstore-backend-ionq -e ./qstore-backend-gpu -e ./qstore-storage -e ./qstore-service \
		pytest pytest-timeout hypothesis ruff mypy
	touch $(STAMP)

install: $(STAMP)

# The main job end to end: the core on its own; a PyTorch training run on the digits task kept in
# runs/digits (metrics, checkpoints, interrupted and resumed, validated with shots) and its report;
# the same model in Keras; a quantum-kernel SVM against an RBF SVM (heatmap in out/).
demo: $(STAMP)
	$(PY) examples/demo.py
	$(PY) examples/train_run.py
	$(VENV)/bin/qstore runs show digits
	TF_CPP_MIN_LOG_LEVEL=3 $(PY) examples/keras_digits.py
	$(PY) examples/kernels_digits.py --out out/kernel_heatmap.png

# pytest exits 5 when it collected nothing: that means the suite is broken, so it fails too.
test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as failure"; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy qstore-core/src/qstore/core

# The documentation site (mkdocs.yml; API pages from the docstrings) into site/; any warning fails.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b; done

clean:
	rm -rf $(VENV)
