# promlite: the two commands a newcomer needs are `make run` and `make test`.

CARGO ?= cargo
DATA  ?= data

.PHONY: run build test interop soak bench lint

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

## interop: promlite against the real upstream peers (Debian's prometheus, promtool,
## alertmanager, amtool, node-exporter, chromium); one line per check, then a total.
## Scripts skip a peer that is not installed.
interop:
	$(CARGO) build --release --bins
	tests/interop/run_all.sh

## soak: a 10-minute peerbench run of the release binary (5 targets x 200 series at 1s)
soak:
	$(CARGO) build --release --bin promlite
	python3 ../shared/tools/peerbench/run.py --server ours=./target/release/promlite \
		-K 5 -S 200 --interval 1s --duration 600

## bench: criterion benches, short runs
bench:
	$(CARGO) bench -- --warm-up-time 1 --measurement-time 3

## lint: formatting and clippy
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
