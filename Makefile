# One command sets up and tests (`make test`); one sets up and runs the main job (`make main`).
# Each creates .venv when missing and reinstalls only when pyproject.toml or constraints.txt change.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.trackkit-installed
# Some machines point pip at a local torch "+cpu" wheel (find-links); pip prefers it over the
# PyPI build because 2.13.0+cpu sorts above 2.13.0, and torchvision 0.28.0 does not import on it.
# Ignore machine-wide pip config so every install resolves the same pinned set from the index.
PIP    := env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL PIP_CONFIG_FILE=/dev/null $(BIN)/python -m pip
JOBS   ?= 2
TEST_ARGS ?=

.PHONY: setup test main smoke bench lab clean
setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[test]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile -q $(TEST_ARGS) tests

# The main job: every study at the cpu profile -- early candidate elimination (scratch and
# procedural-MAE backbones; it builds the MAE pretraining and the reference tracker once in
# runs/cache), pre-training (reusing the ECE networks), FastSeqTrack's Table 3 and early exits,
# STDTrack's Table 3 and token maintainer, frozen vs tuned (those five start from the reference
# tracker's encoder, trackkit.study.reference), every family side by side with its training-seed
# spread (trackers) and the cost of every preset -- then the report in reports/, which only reads
# what the studies recorded, and README.md's generated "Measured" block from the report's tables.
# Resumable: a rerun skips finished runs and reuses pretrained and trained weights from runs/cache.
# One `study run` for all of them: the studies share one pool of workers (a worker never idles
# while another study has runs left), queued in this order, each study's points in its file's
# order; the preset costs (no training) first, the studies that only track networks others
# train (early exits, STM) last, so no worker waits for a network still in training and no
# long run is left for the end; one progress bar counts the whole job's runs.
MAIN_STUDIES := preset_costs ece_keep_ratio pretraining fastseqtrack_ablation stdtrack_ablation frozen_vs_tuned \
                trackers early_exit stm
main: $(STAMP)
	s=0; $(BIN)/trackkit study run $(MAIN_STUDIES:%=studies/%.yaml) --profile cpu --workers $(JOBS) || s=1; \
	$(BIN)/trackkit report --profile cpu --readme README.md && exit $$s

# Explore the notebooks in JupyterLab with the kit's kernel ("python3", installed into .venv by setup).
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
