.PHONY: setup build test demo bench-sizes fmt lint
setup: ; bash scripts/setup.sh
build: ; bash scripts/build.sh
test: ; bash scripts/test.sh
demo: ; bash scripts/demo.sh
bench-sizes: ; bash scripts/bench-sizes.sh
fmt: ; cargo fmt --all
lint: ; cargo clippy --workspace --all-targets -- -D warnings
