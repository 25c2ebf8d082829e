# The README's two commands: `make demo` (the main job) and `make test` (the whole suite).
GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all build deps test lint unit e2e sim demo fuzz clean deb test-deb

all: build

build:
	$(GO) build -o bin/hadirector ./cmd/hadirector

# The Debian packages both README commands need, installed when missing (one list:
# scripts/deps.sh; the VM harness calls it too). Go tools are pinned in go.mod (`go tool`).
deps:
	./scripts/deps.sh

# bin/hadirector_<version>_amd64.deb: tools/cmd/hadirector-pkg builds it with nfpm as a library
# (no external tool); the version comes from git (v1.2.3 tag, or 0.0.0+gitN.gHASH).
deb:
	$(GO) run -C tools ./cmd/hadirector-pkg -repo .. -out ../bin

# The package on this host, as root (it is disposable): lintian, dpkg -i, systemd-analyze verify,
# check of the shipped conffile, an upgrade that keeps an edited conffile, dpkg -r and -P
# leaving nothing behind. Fails (never skips) under HADIRECTOR_REQUIRE_PRIV=1.
test-deb: deps
	cd tools && $(GO) test -tags debtest -count=1 -v -timeout 10m -run TestDeb ./cmd/hadirector-pkg

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	cd tools && $(GO) vet -tags debtest ./... && $(GO) tool staticcheck -tags debtest ./...

# -race runs everything (the simulator with fewer seeds); the plain run gives the
# simulator its full 10 000 seeds. The namespace end-to-end tests measure failover times,
# so they run on their own rather than beside the other packages' race-enabled tests.
unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /e2e$$)
	cd tools && $(GO) test -race -count=1 ./...

e2e:
	$(GO) test -count=1 -v ./e2e

sim:
	$(GO) test -count=1 -run 'TestSimulator' -v ./vrrp/sim

# `demo` is the README's main command run as it is: its exit status is the end-to-end test of
# the whole pair with real IPVS (and of vmrun -exec).
test: deps lint unit sim e2e test-deb test-vm demo

# The director pair of examples/ with real IPVS, in the VM (the host kernel has none):
# internal/demo narrates and checks the timeline; exit status 0 only if every step happened.
DEMO_ARGS ?=
demo: deps
	$(GO) run ./internal/vmtest/cmd/vmrun -exec ./cmd/hadirector-demo -bin ./cmd/hadirector -timeout 5m -v=false -- $(DEMO_ARGS)

# Every fuzz target for FUZZTIME each, with a table of executions and crashes (the bench
# mode of the hardening issue); FUZZ_TARGETS='./vrrp:FuzzValidate ...' for a subset.
FUZZTIME ?= 10m
FUZZ_TARGETS ?=
fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh $(FUZZ_TARGETS)

clean:
	rm -rf bin

# Tests that need the real IPVS kernel (files with //go:build vmtest) run in ONE qemu VM that
# boots Debian's cloud kernel: see internal/vmtest. Add packages to VM_PKGS.
# VM_BINS: main packages built for the VM and put on its PATH (/usr/local/bin).
VM_PKGS ?= ./internal/vmtest ./e2e/vm ./lvs
VM_BINS ?= ./cmd/hadirector ./cmd/hadirector-demo
VM_RUN ?=
VM_TIMEOUT ?= 15m
# -test.short: the IPVS benchmark (1000 services x 10 real servers) runs through bench-vm.
VM_ARGS ?= -test.short
.PHONY: test-vm
test-vm:
	$(GO) vet -tags vmtest $(VM_PKGS)
	$(GO) tool staticcheck -tags vmtest $(VM_PKGS)
	$(GO) run ./internal/vmtest/cmd/vmrun -pkgs '$(VM_PKGS)' -bin '$(VM_BINS)' -run '$(VM_RUN)' -timeout $(VM_TIMEOUT) -- $(VM_ARGS)

# The chaos soak (e2e/vm TestChaos) with FAULTS random faults; SEED replays a sequence (0 =
# a new one, printed). CI runs its short default (16 faults) inside test-vm. A failing run's
# fault log (between CHAOS-TRACE-BEGIN/END on the console) is copied to bin/chaos-failed.log.
FAULTS ?= 200
SEED ?= 0
.PHONY: chaos
chaos:
	@mkdir -p bin
	$(MAKE) test-vm VM_PKGS=./e2e/vm VM_RUN=TestChaos VM_TIMEOUT=60m \
	  VM_ARGS='-test.v -chaos.faults=$(FAULTS) -chaos.seed=$(SEED)' || { \
	  sed -n '/CHAOS-TRACE-BEGIN/,/CHAOS-TRACE-END/p' bin/vmtest-console.log > bin/chaos-failed.log; \
	  if [ -s bin/chaos-failed.log ]; then echo "chaos: FAILED; fault log in bin/chaos-failed.log (replay with the SEED it names)"; \
	  else echo "chaos: FAILED before the test could print its fault log (VM hung or timed out); the faults so far are in bin/vmtest-console.log"; fi; exit 1; }

# The IPVS benchmark in the VM: full sync vs ipvsadm -R, no-op resync vs ipvsadm -Sn, the
# ops of a one-weight change, withdraw vs one-by-one delete; prints raw figures and ratios.
.PHONY: bench-vm
bench-vm:
	$(MAKE) test-vm VM_PKGS=./lvs VM_RUN=TestBenchmarkLVS VM_ARGS=-test.v

# The benchmark report: every benchmark against keepalived and ipvsadm in one run, written to
# docs/BENCHMARKS.md and docs/takeover.png (about 15 minutes: the one recorded run took 14 m 15 s; root, keepalived, ipvsadm, qemu).
# BENCH_ARGS=-quick for a short development run. Not part of `make test`.
BENCH_ARGS ?=
.PHONY: benchmarks
benchmarks:
	$(GO) build -C tools -o ../bin/hadirector-benchreport ./cmd/hadirector-benchreport
	./bin/hadirector-benchreport $(BENCH_ARGS)
