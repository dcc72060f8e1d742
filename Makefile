# promlite: the two commands a newcomer needs are `make run` and `make test`.

CARGO ?= cargo
DATA  ?= data

.PHONY: run build test interop bench lint

## run: build in release and start promlite on ./prometheus.yml (scrapes itself on :9090), data under ./data
run:
	$(CARGO) build --release --bin promlite
	mkdir -p $(DATA)
	./target/release/promlite --config.file=prometheus.yml --storage.tsdb.path=$(DATA)/ --web.enable-lifecycle

build:
	$(CARGO) build --workspace

## test: every unit, integration and end-to-end test (debug build; < 10 min on 2 cores)
test:
	$(CARGO) test --workspace

## interop: upstream's promtool against promlite (skips when promtool is missing)
interop:
	$(CARGO) build --bin promlite
	tests/interop/promtool.sh

## bench: criterion benches, short runs
bench:
	$(CARGO) bench -- --warm-up-time 1 --measurement-time 3

## lint: formatting and clippy
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
