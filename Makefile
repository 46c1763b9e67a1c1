# Every target is a thin wrapper over scripts/ or the shopai CLI.
# Stages take RATINGS / CATALOG (paths or s3:// URLs); defaults use the ML-100k demo data.
SHELL := /bin/bash
SHOPAI = source scripts/env.sh && "$$SHOPAI_BIN"
RATINGS ?= data/ml-100k/ml-100k.inter
CATALOG ?= data/ml-100k/ml-100k.item
OUT ?= out/bundle.bin

.PHONY: setup build test demo data ingest eda split bundle run refresh bench-sizes bench-ingest fuzz fmt lint
setup: ; bash scripts/setup.sh
build: ; bash scripts/build.sh
test: ; bash scripts/test.sh
demo: ; bash scripts/demo.sh
data: ; bash scripts/fetch-demo-data.sh
ingest: build data ; $(SHOPAI) ingest --ratings $(RATINGS) --catalog $(CATALOG)
eda: ; $(SHOPAI) eda
split: ; $(SHOPAI) split
bundle: ; $(SHOPAI) build --out $(OUT)
run: build data ; $(SHOPAI) run --ratings $(RATINGS) --catalog $(CATALOG) --out $(OUT)
# Scheduled retrain (what the CronJob runs): ingest → embed changed products → retrain → evaluate → bundle.
refresh: ; $(SHOPAI) refresh --ratings $(RATINGS) --catalog $(CATALOG) --out $(OUT)
bench-sizes: ; bash scripts/bench-sizes.sh
bench-ingest: ; bash scripts/bench-ingest.sh
fuzz: ; bash scripts/fuzz.sh
fmt: ; cargo fmt --all
lint: ; cargo clippy --workspace --all-targets -- -D warnings
