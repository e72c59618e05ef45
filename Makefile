# Two commands on a fresh machine: `make run` (install + start the web chat)
# and `make install-test && .venv/bin/python -m pytest -q` (install + run the tests; `make test`
# is the same). See README.md.
.PHONY: install install-test run test bench

install:
	bash scripts/install.sh local

install-test:
	bash scripts/install.sh local,test,bench
	bash scripts/install-chromium.sh

run: install
	.venv/bin/python app.py

test: install-test
	.venv/bin/python -m pytest -q

bench: install-test
	bash bench/run.sh
