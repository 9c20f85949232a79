# Two entry points a new user needs: `make demo` (set up + demo) and `make test`.
# The virtualenv is built once and reused until setup.cfg changes.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The only torch/torchvision pair that imports together here (timm needs torchvision).
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: setup demo test lint bench clean-runs

setup: $(VENV)/.installed $(VENV)/timm-tests/.fetched

$(VENV)/.installed: setup.cfg pyproject.toml
	@# Fashion-MNIST ships as a Debian package; best effort (needs root and apt).
	-@test -d /usr/share/datasets/fashion-mnist || { command -v apt-get >/dev/null && \
		test "$$(id -u)" = 0 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || true
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH_PINS)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# timm's own model tests, from the sdist of the installed timm (tests/test_timm_conventions.py
# runs them on the bnas models); timm's code stays out of the repository.
$(VENV)/timm-tests/.fetched: $(VENV)/.installed
	rm -rf $(VENV)/timm-tests && mkdir -p $(VENV)/timm-tests
	cd $(VENV)/timm-tests && version=$$(../bin/python -c \
		'import importlib.metadata as m; print(m.version("timm"))') && \
	../bin/pip download -q --no-deps --no-binary :all: "timm==$$version" -d . && \
	tar -xzf "timm-$$version.tar.gz" "timm-$$version/tests" "timm-$$version/pyproject.toml" && \
	rm "timm-$$version.tar.gz"
	touch $@

# The README's demo: cost of one architecture, then search → report → export on digits; it
# ends with the best trial's bit-packed model and its latency against the float twin's.
demo: setup
	$(BIN)/bnas profile architectures/reactnet_a_tiny_mixed.yaml
	rm -rf runs/demo-digits
	$(BIN)/bnas search search_spaces/demo_digits.yaml
	$(BIN)/bnas report runs/demo-digits
	$(BIN)/bnas export runs/demo-digits --best --openvino

# Two test processes, one file each at a time: most of a Ray test is waiting (processes
# starting, a node declared dead), so two keep both cores busy (~6.5 min instead of ~8.5).
test: setup
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: setup
	$(BIN)/ruff check bnas tests bench experiments
	$(BIN)/lint-imports

bench: setup
	$(BIN)/python bench/run_all.py

clean-runs:
	rm -rf runs
