# Everything starts from a bare python3: the first target that needs the virtual
# environment creates it and installs the project with its test extras.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: test demo install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

test: install
	$(VENV)/bin/pytest

demo: install
	$(VENV)/bin/smsledger demo

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
