# Two commands for a new machine: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip -q --disable-pip-version-check
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PIP) install -r requirements-test.txt
	touch $@

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	@echo "--- Konto demonstracyjne (logowanie na http://$(HOST):$(PORT)/) ---"
	@$(PY) manage.py create_demo_user
	@echo "-------------------------------------------------------------------"
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.installed-test
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var
