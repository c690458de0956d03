# typedis developer commands. Each target sets up .venv when needed; the install steps
# re-run only when pyproject.toml changes (stamp files inside .venv).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
PIP    := $(PY) -m pip --disable-pip-version-check

.PHONY: demo test test-cluster lint typecheck docs bench bench-memory clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Runtime install: `pip install -e .`
$(VENV)/.stamp-run: pyproject.toml | $(PY)
	$(PIP) install --quiet -e .
	touch $@

# Development install: `pip install -e '.[dev]'` (test, lint and type-check tools, and the
# `docs` extra: mkdocs for the documentation site).
# Also the `embeddings` extra, so LocalEmbedder's tests run (tests/test_embedding.py): torch
# 2.13.0 first, the CPU build pip takes from this machine's disk (unpinned, the extra would pull
# a CUDA build of several GB); about 15 s here.
$(VENV)/.stamp-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet torch==2.13.0
	$(PIP) install --quiet -e '.[dev,embeddings]'
	touch $@ $(VENV)/.stamp-run

demo: $(VENV)/.stamp-run
	$(PY) -m typedis demo
	$(PY) -m typedis demo memory

# Folders that do not exist yet are skipped (ruff fails on a missing path).
LINT_DIRS := $(wildcard src tests typing_tests benchmarks docs/hooks.py)

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check $(LINT_DIRS)

# typing_tests/*.py hold deliberate errors (lines marked `# E:`): run.py checks them with
# mypy and pyright and compares; the plain checker runs cover src and the runner itself.
typecheck: $(VENV)/.stamp-dev
	$(BIN)/mypy --strict src typing_tests/run.py
	$(BIN)/pyright src typing_tests/run.py
	$(PY) typing_tests/run.py

# The documentation site (mkdocs.yml): docs/ and the API reference generated from the
# docstrings, built into site/. --strict fails the build on any warning: a link or anchor that
# points at nothing, a page left out of the nav, a reference to a missing name, a docstring
# griffe cannot parse. NO_MKDOCS_2_WARNING quiets mkdocs-material's banner about MkDocs 2.0.
docs: $(VENV)/.stamp-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: lint typecheck docs
	$(BIN)/pytest
	$(MAKE) test-cluster

# The model, query, batch, bulk, repair, retrieval and agent-memory tests again, on a local
# Valkey Cluster (3 primaries, 1 replica each; tests/_cluster.py); tests/test_cluster.py runs in
# the plain suite.
CLUSTER_TESTS := tests/test_model.py tests/test_save_many.py tests/test_bulk.py \
	tests/test_repair.py tests/test_count.py tests/test_query.py tests/test_query_edges.py \
	tests/test_fanout.py tests/test_text.py tests/test_vectors.py tests/test_content.py \
	tests/test_fusion.py tests/test_assembly.py tests/test_lifecycle.py tests/test_policy.py \
	tests/test_memory_protocol.py tests/test_erasure.py tests/test_subconscious.py

test-cluster: $(VENV)/.stamp-dev
	TYPEDIS_TEST_CLUSTER=1 $(BIN)/pytest -q $(CLUSTER_TESTS)

# Benchmark install: typedis plus the `bench` extra (matplotlib, for the harness' plots).
$(VENV)/.stamp-bench: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[bench]'
	touch $@ $(VENV)/.stamp-run

# The harness (benchmarks/harness): every workload, typedis vs raw redis-py vs Popoto (installed
# in its own venv, benchmarks/.popoto-venv), on the embedded server or REDIS_URL. It FLUSHes
# that database. BENCH_ARGS passes options, e.g. `make bench BENCH_ARGS=--quick`.
bench: $(VENV)/.stamp-bench
	$(PY) -m benchmarks.harness $(BENCH_ARGS)

# The memory-primitive benchmarks (decay, confidence, bloom, composite), one script each.
bench-memory: $(VENV)/.stamp-run
	@set -e; for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) "$$f"; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis build dist site
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
