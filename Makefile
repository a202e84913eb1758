# The README's test command is `make test`: vet, format check, then every test,
# then the kernels again as the pure-Go fallback (`purego`) with Go's SIMD
# experiment, which adds the Go-SIMD microkernels ("gosimd512", "gosimd256").
.PHONY: test vet fmt

test: vet fmt
	go test ./...
	GOEXPERIMENT=simd go test -tags purego ./kernels/

vet:
	go vet ./...
	GOEXPERIMENT=simd go vet -tags purego ./kernels/

fmt:
	@out=$$(gofmt -l . | grep -v '^_' || true); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
