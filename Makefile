# Two commands on a fresh machine: `make up` runs the platform, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
# LocalStack needs Python 3.13 (on 3.11/3.12 it fails with misleading plugin errors).
PYTHON313 ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3) $(shell command -v python3.13))

VENV := .venv
LS_VENV := .venv-localstack
LABEL_STUDIO_VENV := .venv-label-studio
MODEL_REQUIREMENTS := $(wildcard ml-models/models/*/requirements.txt)
# The services are found, not listed: a folder with a pyproject.toml is a project (installed
# editable), a package in it with a py.typed marker is type-checked. A new deployable needs
# no line here; tools/devstack.py runs it under `make up`.
PROJECTS := $(patsubst %/pyproject.toml,%,$(wildcard */pyproject.toml */app/pyproject.toml))
TYPED_PACKAGES := $(patsubst %/py.typed,%,$(wildcard */*/py.typed */app/*/py.typed))

.PHONY: help venvs promtool up monitor test test-unit lint bench bench-compare bench-drift bench-annotation clean

help:
	@echo "make up     - run the platform locally (PostgreSQL, LocalStack, MLflow, Label Studio, gateway, workers, jobs)"
	@echo "make monitor - run the monitoring job once, for the last complete hour (make up in another terminal)"
	@echo "make test   - unit, integration and end-to-end tests against real services"
	@echo "make lint   - ruff and mypy"
	@echo "make bench  - benchmark a running platform (make up in another terminal)"
	@echo "make bench-compare - cost per request: the platform against a plain synchronous server, the model alone (make up running)"
	@echo "make bench-drift - false alarms and detection of the drift verdict per window size (make up running)"
	@echo "make bench-annotation - annotation sync time for 1,000 and 10,000 candidate requests (make up running)"

venvs: $(VENV)/.installed $(LS_VENV)/.installed $(LABEL_STUDIO_VENV)/.installed promtool

# promtool checks and unit-tests the alert rules (helm/inference-platform/files/alerts.yaml); Debian's prometheus
# package has it (the Prometheus server it also installs is not started).
promtool:
	@command -v promtool >/dev/null || { \
		echo "installing promtool (Debian's prometheus package) for the alert-rule tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null; }

$(VENV)/.installed: constraints.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PROJECTS)) $(MODEL_REQUIREMENTS)
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -c constraints.txt -r requirements-dev.txt \
		$(addprefix -e ,$(PROJECTS)) $(addprefix -r ,$(MODEL_REQUIREMENTS))
	touch $@

$(LS_VENV)/.installed: localstack/requirements.txt localstack/constraints.txt
	@test -n "$(PYTHON313)" || { echo "LocalStack needs Python 3.13: install it (pyenv install 3.13) or set PYTHON313"; exit 1; }
	test -x $(LS_VENV)/bin/python || $(PYTHON313) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install -q --upgrade pip
	$(LS_VENV)/bin/python -m pip install -q -c localstack/constraints.txt -r localstack/requirements.txt
	touch $@

# Label Studio (the annotation tool people label in) runs from a virtualenv of its own.
$(LABEL_STUDIO_VENV)/.installed: annotation/label-studio/requirements.txt annotation/label-studio/constraints.txt
	test -x $(LABEL_STUDIO_VENV)/bin/python || $(PYTHON) -m venv $(LABEL_STUDIO_VENV)
	$(LABEL_STUDIO_VENV)/bin/python -m pip install -q --upgrade pip
	$(LABEL_STUDIO_VENV)/bin/python -m pip install -q -c annotation/label-studio/constraints.txt \
		-r annotation/label-studio/requirements.txt
	touch $@

up: venvs
	$(VENV)/bin/python tools/devstack.py up

monitor: $(VENV)/.installed
	$(VENV)/bin/python tools/devstack.py monitor

test: venvs
	$(VENV)/bin/python -m pytest

test-unit: $(VENV)/.installed
	$(VENV)/bin/python -m pytest tests/unit

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy $(TYPED_PACKAGES)

bench: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/pipeline.py
	$(VENV)/bin/python benchmarks/worker.py

bench-compare: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/compare.py

bench-drift: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/drift_calibration.py

bench-annotation: $(VENV)/.installed
	$(VENV)/bin/python benchmarks/annotation_sync.py

clean:
	rm -rf $(VENV) $(LS_VENV) $(LABEL_STUDIO_VENV) .run
