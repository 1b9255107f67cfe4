# Tasks run from the project root. Each target names the command it runs,
# so it can be copied and run by hand as well.

PYTHON := .venv/bin/python

.PHONY: quality

# Pairwise precision and recall of matching, then precision and recall of
# the flags, on the labelled sets (docs/matching.md, docs/flags.md).
quality:
	$(PYTHON) -m benchmarks.match_quality
	$(PYTHON) -m benchmarks.flag_quality
