# Tasks run from the project root. Each target names the command it runs,
# so it can be copied and run by hand as well.

PYTHON := .venv/bin/python

.PHONY: quality bench

# Pairwise precision and recall of matching, then precision and recall of
# the flags, on the labelled sets (docs/matching.md, docs/flags.md).
quality:
	$(PYTHON) -m benchmarks.match_quality
	$(PYTHON) -m benchmarks.flag_quality

# Speed on 250,000 Library of Congress records against pymarc, yaz-marcdump
# and sickle, in one run (docs/performance.md); the figures go to var/bench.json.
# A quicker subset: make bench BENCH_ARGS="--only a,b,c --records 20000"
bench:
	$(PYTHON) -m benchmarks.bench $(BENCH_ARGS)
