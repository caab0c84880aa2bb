# Everything starts from a bare python3: the first target that needs the virtual
# environment creates it and installs the project with its test extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: test typecheck demo install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

test: install typecheck
	$(VENV)/bin/pytest

# mypy maps modules to files by folder names: it reads the checkout as `smsledger`
# through a link to the repository's root (settings in pyproject.toml).
typecheck: install
	mkdir -p build/typecheck && ln -sfn ../.. build/typecheck/smsledger
	cd build/typecheck && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml \
		-p smsledger.domain -p smsledger.application -p smsledger.adapters -m smsledger

# The demo campaign's report page is written beside it: open demo-report.html.
demo: install
	$(VENV)/bin/smsledger demo --report demo-report.html

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache build .mypy_cache
