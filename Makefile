# lmeff: the two commands on a fresh machine are `make setup` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
ENV_FILE := env/lmeff.env
# Every cargo/lmeff recipe runs with libtorch's paths from env/lmeff.env (written by make setup).
WITH_ENV = if [[ ! -f $(ENV_FILE) ]]; then echo "$(ENV_FILE) missing: run 'make setup' first" >&2; exit 1; fi; source $(ENV_FILE) &&

.PHONY: setup build release test test-login-node install-login-node lint fmt docs plan doctor demo demo-slurm slurm-up gpu-pack gpu-check clean help bench-data bench-train bench-blimp bench-aggregate bench-launch bench-glue

help:
	@echo "make setup      install Debian packages, libtorch 2.11 (torch wheel) and the local Slurm cluster"
	@echo "make demo       the whole study in miniature on this machine: data, train, BLiMP, report"
	@echo "make demo-slurm the same through lmeff launch on the Slurm cluster"
	@echo "make test       lint (fmt, clippy -D warnings) and every unit and end-to-end test, both builds"
	@echo "make install-login-node  lmeff without libtorch (plan, launch, status, aggregate, push, data)"
	@echo "make docs       build the documentation book into docs/book/ and check its links"
	@echo "make release    build target/release/lmeff"
	@echo "make plan       print the runs of configs/configs.csv"
	@echo "make doctor     check that libtorch links and trains here"
	@echo "make gpu-pack   build what the one GPU call needs into target/gpu-pack (binary, small data; <= 60 MB)"
	@echo "make gpu-check  on the GPU machine: the CUDA checks, time-boxed, into \$$OUT/summary.txt (builds nothing)"
	@echo "make bench-data  tokenizing and BPE training vs the study's Python path"
	@echo "make bench-train training tokens/s vs HF transformers on this CPU (fp32 and bf16)"
	@echo "make bench-blimp BLiMP pairs/s vs the study's transformers loop on this CPU"
	@echo "make bench-glue  GLUE fine-tuning examples/s vs the BabyLM pipeline's HF Trainer on this CPU"
	@echo "make bench-aggregate  lmeff aggregate on study-sized inputs (10,000 bootstrap draws)"
	@echo "make bench-launch rendering and submitting a 1,000-run plan (held, then cancelled)"

setup:
	bash env/setup.sh

build:
	$(WITH_ENV) cargo build

release:
	$(WITH_ENV) cargo build --release

lint:
	$(WITH_ENV) cargo fmt --check && cargo clippy --all-targets -- -D warnings
	cargo clippy --all-targets --no-default-features -- -D warnings

fmt:
	$(WITH_ENV) cargo fmt

test: lint test-login-node
	$(WITH_ENV) cargo test

# The build without libtorch (login nodes, laptops), built and tested with no libtorch in sight:
# its unit tests, the layering checks and the login-node end-to-end tests.
test-login-node:
	env -u LIBTORCH -u LD_LIBRARY_PATH cargo test --no-default-features --lib --test e2e --test layers

# lmeff without libtorch, MPI or a C++ compiler, into ~/.cargo/bin (plan, launch, status,
# resubmit, aggregate, push, hub, data).
install-login-node:
	cargo install --locked --path . --no-default-features

# The book (docs/src, mdBook from make setup) into docs/book/, after the link and settings checks.
docs:
	$(WITH_ENV) cargo test --quiet --test docs && env/bin/mdbook build docs

plan:
	$(WITH_ENV) cargo run --release --quiet -- plan

doctor:
	$(WITH_ENV) cargo run --release --quiet -- doctor

demo: release
	bash env/demo.sh

demo-slurm: release
	bash env/slurm-up.sh
	bash env/demo.sh --slurm

slurm-up:
	bash env/slurm-up.sh

gpu-pack: release
	$(WITH_ENV) bash env/gpu-pack.sh

gpu-check:
	bash env/gpu-check.sh

clean:
	cargo clean

bench-data: release
	bash tests/bench/data_bench.sh

bench-train: release
	bash tests/bench/train_bench.sh

bench-blimp: release
	bash tests/bench/blimp_bench.sh

bench-aggregate: release
	bash tests/bench/aggregate_bench.sh

bench-launch: release
	bash tests/bench/launch_bench.sh

bench-glue: release
	bash tests/bench/glue_bench.sh
