# `make demo` and `make test` set everything up on a fresh machine: a .venv at the repo root
# with pinned dependencies (requirements.txt), then aotc itself in editable mode.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install whenever the pins change.
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
# torchvision's PyPI wheel would pull a CUDA torch; the pinned CPU torch plus --no-deps avoids it.
TORCHVISION := torchvision==0.28.0
PYTEST_FLAGS ?= -n 2 --durations=25 --timeout=900

.PHONY: setup demo test test-all conformance clean webgpu-setup

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps $(TORCHVISION)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	rm -f $(VENV)/.installed-*
	touch $@

demo: setup
	$(BIN)/python examples/demo.py

# The default tiers (no toolchain beyond the C compiler); pytest's exit code 5 (no tests ran)
# fails the target like any other failure.
test: setup webgpu-setup
	$(BIN)/python -m pytest $(PYTEST_FLAGS) -m "not slow and not peers" tests

# The ONNX backend node cases alone (they are part of `make test` too).
conformance: setup
	$(BIN)/python -m pytest $(PYTEST_FLAGS) -m conformance tests/conformance

# Everything, slow tiers included (the `peers` tests skip unless TVM is installed: aotc[peers]).
test-all: setup
	$(BIN)/python -m pytest $(PYTEST_FLAGS) tests

# What the WebGPU tests run on: lavapipe (Mesa's software Vulkan driver, for wgpu), Debian's
# chromium (SwiftShader's WebGPU) and node's playwright-core to drive it. apt needs root (CI's
# containers are); elsewhere the tests skip with the missing piece named. An npm already on PATH
# (e.g. NodeSource's nodejs, which conflicts with Debian's npm package) is used as it is.
WEBGPU_BROWSER := tests/backends/webgpu/browser
webgpu-setup:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    missing=""; \
	    for p in mesa-vulkan-drivers chromium; do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	    command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	    if [ -n "$$missing" ]; then \
	        apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi; \
	fi
	@if command -v npm >/dev/null && [ ! -d $(WEBGPU_BROWSER)/node_modules/playwright-core ]; then \
	    npm ci --prefix $(WEBGPU_BROWSER) --no-audit --no-fund; fi

clean:
	rm -rf $(VENV) build .pytest_cache $(WEBGPU_BROWSER)/node_modules
