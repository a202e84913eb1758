# The README's test command is `make test`: vet, format check, then every test,
# then the kernels again as the pure-Go fallback (`purego`) with Go's SIMD
# experiment, which adds the Go-SIMD microkernels ("gosimd512", "gosimd256"),
# then every fuzz target for a few seconds.
#
# `make build` makes the one static binary the README promises: without cgo,
# so that net/http does not link libc (cmd/qkv's TestStaticBinary checks it).
#
# The Apache Beam pipelines (`qkv beam …`) live in beam/, a Go module of its
# own, so that neither `make build` nor `make test` compiles the Beam SDK:
# `make build-beam` builds qkv-beam beside qkv, `make test-beam` vets and
# tests that module (CI runs make test, the README's command; make test-beam
# is a long run behind its own target).
.PHONY: test vet fmt build fuzz build-beam test-beam

build:
	CGO_ENABLED=0 go build -o qkv ./cmd/qkv

build-beam:
	cd beam && CGO_ENABLED=0 go build -o ../qkv-beam ./cmd/qkv-beam

test-beam:
	cd beam && go vet ./... && go test ./...

# -timeout 45m: on a loaded 2-core machine the model package alone can pass go
# test's 10-minute default (it takes 2-4 minutes on a quiet one).
test: vet fmt
	go test -timeout 45m ./...
	GOEXPERIMENT=simd go test -tags purego ./kernels/
	$(MAKE) fuzz

vet:
	go vet ./...
	GOEXPERIMENT=simd go vet -tags purego ./kernels/

fmt:
	@out=$$(gofmt -l . | grep -v '^_' || true); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# Every reader's fuzz target, as package:target. `go test -fuzz` takes one
# target per run, so they run one after the other, FUZZTIME each. The
# default is a count of inputs, not a duration: with a duration, Go 1.26's
# fuzz coordinator can fail a target with a bare "context deadline exceeded"
# as the time runs out (https://go.dev/issue/75804, fixed in Go 1.27), which
# a loaded 2-core machine hits often. 30000 inputs take 1 to 10 seconds a
# target here. For a longer search: `make fuzz FUZZTIME=2000000x` (or a
# duration such as 10m, accepting that flake). A failure leaves the input in
# the package's testdata/fuzz/<target>/: commit it with the fix.
FUZZTIME ?= 30000x
FUZZ_TARGETS = \
	./checkpoint:FuzzReadSafetensors \
	./distill:FuzzReadTargets \
	./pipeline:FuzzConfigJSON \
	./model:FuzzConfig \
	./cmd/qkv:FuzzRunConfigYAML \
	./text/vocab:FuzzLoad \
	./text/tokenize:FuzzLoadBPE \
	./text/tokenize:FuzzBPE \
	./text/tokenize:FuzzChar \
	./text/tokenize:FuzzWord \
	./text/corpus:FuzzReadTSV \
	./text/corpus:FuzzReadCMUdict \
	./text/corpus:FuzzReadPO \
	./text/corpus:FuzzReadMO \
	./text/placeholder:FuzzProtect \
	./po:FuzzParse

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$name ($$pkg) for $(FUZZTIME)"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done
