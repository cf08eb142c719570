# Shortcuts for developers; CI runs .ci/run, which does the same from a clean checkout.
.PHONY: install test lint run

install:
	python3 -m venv .venv && .venv/bin/pip install -q -e '.[dev]'

test: install
	.venv/bin/pytest

lint: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

run: install
	.venv/bin/republisher poll
