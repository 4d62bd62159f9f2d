# Two commands matter: `make run` and `make test`. Everything else is a step of theirs.
# Every step is idempotent: run them as often as you like.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
HOTLINE := $(VENV)/bin/hotline
# Debian packages the project needs on the host (Debian 12). The PBX itself runs in a container.
SYSTEM_PACKAGES := podman runc mmdebstrap uidmap ffmpeg espeak-ng sox graphviz fonts-wqy-microhei tmux python3-venv

.PHONY: run test setup system-deps venv image prompts check unit bench clean

run: setup
	$(HOTLINE) run

test: setup check
	$(PY) -m pytest --durations=10

setup: system-deps venv image prompts

# Benchmarks (a few minutes; not part of test): the line classifier on its corpus offline
# and over SIP, the ACD's routing decision at 100 / 1 000 / 10 000 agents, agent-ready
# to phone-ringing against app_queue on the same PBX, and key -> next prompt for 20
# callers with and without /metrics scrapes and month reports over a month of history.
bench: setup
	$(PY) -m bench.classifier --sip
	$(PY) -m bench.routing
	$(PY) -m bench.ready
	$(PY) -m bench.reads

system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "==> system packages: all present"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "==> missing system packages:$$missing. Run 'make' as root, or install them with apt-get." >&2; exit 1; fi; \
	echo "==> installing system packages:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -q; apt-get install -y -q --no-install-recommends $$missing

$(VENV)/.installed: setup.cfg pyproject.toml
	@echo "==> python environment in $(VENV)"
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

venv: $(VENV)/.installed

image: venv
	$(HOTLINE) pbx image

prompts: venv
	$(HOTLINE) prompts build

check: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

unit: venv
	$(PY) -m pytest tests/unit

clean:
	-$(HOTLINE) pbx down
	rm -rf var
