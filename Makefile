# Two commands for a new machine: `make run` and `make test`. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip -q --disable-pip-version-check
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint format clean chromium libreoffice bench

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

test: $(VENV)/.installed-test chromium libreoffice
	$(PY) -m pytest $(PYTEST_ARGS)

# Browser tests drive Debian's Chromium (Playwright cannot download its own here).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "Browser tests need /usr/bin/chromium: run 'sudo apt-get install chromium'," \
	         "or skip them with: make test PYTEST_ARGS='-m \"not browser\"'"; exit 1; \
	  fi; }

# The Word export's rendering tests convert .docx to PDF with LibreOffice and read the PDF with
# poppler (pdftotext, pdftoppm). The smallest Debian packages that do it: Writer without the GUI,
# and Carlito, the metric-compatible stand-in for Calibri, so pages break as they do in Word.
libreoffice:
	@command -v soffice >/dev/null && command -v pdftoppm >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	      libreoffice-writer-nogui poppler-utils fonts-crosextra-carlito >/dev/null; \
	  else \
	    echo "Rendering tests need LibreOffice and poppler: run 'sudo apt-get install --no-install-recommends" \
	         "libreoffice-writer-nogui poppler-utils fonts-crosextra-carlito'"; exit 1; \
	  fi; }

# Benchmarks (not tests): PostgreSQL and Redis on 127.0.0.1, figures in bench/results/.
# BENCH_ARGS='--only generation' runs a subset; see bench/run.py.
$(VENV)/.installed-bench: $(VENV)/.installed requirements-bench.txt
	$(PIP) install -r requirements-bench.txt
	touch $@

bench: $(VENV)/.installed-bench
	$(PY) bench/run.py $(BENCH_ARGS)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-test
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) var reports

# ---- smoke tests (smoke/) ------------------------------------------------------------------
# The critical paths in Chromium: log in, upload, generate, edit, export, health. Without
# BASE_URL they start a live server with a real worker (they also run in `make test`); with
# it they drive that deployment, as SMOKE_USER / SMOKE_PASSWORD (an existing account:
# `manage.py create_demo_user --username smoke` there). Screenshots: reports/smoke/.
#   make smoke BASE_URL=https://karty.example.pl SMOKE_USER=smoke SMOKE_PASSWORD=...
.PHONY: smoke
smoke: $(VENV)/.installed-test chromium
	@echo "smoke tests against $(if $(BASE_URL),$(BASE_URL),a live server started here)"
	@SMOKE_BASE_URL="$(BASE_URL)" SMOKE_USER="$(SMOKE_USER)" SMOKE_PASSWORD="$(SMOKE_PASSWORD)" \
	  $(PY) -m pytest -m smoke smoke $(PYTEST_ARGS)
