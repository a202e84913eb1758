# The README's test command is `make test`: vet, format check, then every test.
.PHONY: test vet fmt bench-gemm

test: vet fmt
	go test ./...

vet:
	go vet ./...

fmt:
	@out=$$(gofmt -l . | grep -v '^_' || true); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
