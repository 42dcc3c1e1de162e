# The reconciler's build. `make demo` and `make test` are the first two
# commands on a fresh machine; see README.md.
GO       ?= go
BIN      := bin
PKGS     := ./...
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS  := -X github.com/sparkmesos/reconciler/cmd/reconciler/app.version=$(VERSION)

.PHONY: all build test lint fmt vet bench demo schemas docs fuzz clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/reconciler ./cmd/reconciler

## test: lint, then every test (ZooKeeper tests need ZooKeeper; .ci/run installs it)
test: lint
	$(GO) test -count=1 $(PKGS)

## lint: gofmt check, go vet, and the dependency-direction test
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) test -count=1 ./internal/depcheck

fmt:
	gofmt -w $$(git ls-files '*.go')

## bench: Go benchmarks and a table of each measure beside its target
bench:
	./scripts/bench.sh

## demo: against the simulated cluster (until the control loop lands: render, submit, watch)
demo: build
	$(GO) build -o $(BIN)/mesos-sim ./cmd/mesos-sim
	./scripts/demo.sh

## schemas: regenerate schemas/*.json and docs/manifest-reference.md from api/v1
schemas:
	$(GO) run ./schemas/gen

docs: schemas

## fuzz: fuzz the loader (FUZZTIME=5m by default)
FUZZTIME ?= 5m
fuzz:
	$(GO) test ./api/v1 -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME)

clean:
	rm -rf $(BIN)
