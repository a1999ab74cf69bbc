# The two commands a newcomer needs: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
# pytest workers (pytest-xdist): one per core, at most 4; each test file stays on one worker
TEST_JOBS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ $$n -gt 4 ] && n=4; echo $$n)

.PHONY: venv demo test bench lint browser clean

venv: $(STAMP)

# Without CUDA, install the CPU build of torch first so the project's torch range is already met
# (an unpinned torch would pull a multi-GB CUDA build).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if ! command -v nvidia-smi >/dev/null 2>&1 && ! $(BIN)/python -c "import torch" 2>/dev/null; then \
		$(BIN)/python -m pip install -q torch==2.13.0 \
		|| $(BIN)/python -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu; fi
	$(BIN)/python -m pip install -q -e '.[dev,viz,text]'
	touch $(STAMP)

# The main job on the embedded Shakespeare sample: train a character LM (~2 minutes), then
# sample from it and measure its held-out loss. The run lands in runs/demo (replaced each time).
demo: venv
	rm -rf runs/demo
	$(BIN)/rnnlab train charlm --preset demo --out runs/demo
	$(BIN)/rnnlab sample runs/demo --prime "HAMLET." --length 600 --temperature 0.8 --seed 1
	$(BIN)/rnnlab eval runs/demo

test: venv lint browser
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile

# The browser test of `rnnlab viz cells`'s page drives Debian's Chromium through playwright (a
# dev dependency that never downloads a browser). As root with apt-get, install Chromium if it
# is missing; anything else only says so, and those tests are skipped.
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
				chromium chromium-driver >/dev/null) \
			|| echo "could not install chromium: the browser tests of the cells page are skipped"; \
		else echo "no $(CHROMIUM): the browser tests of the cells page are skipped" \
			"(apt-get install chromium)"; fi; fi

bench: venv
	$(BIN)/python -m rnnlab bench layers

lint: venv
	$(BIN)/ruff format --no-cache --check src tests benchmarks
	$(BIN)/ruff check --no-cache src tests benchmarks

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
