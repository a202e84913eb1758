module github.com/qkv-dev/qkv/bench/gonumcmp

go 1.26.8

require (
	github.com/qkv-dev/qkv v0.0.0
	gonum.org/v1/gonum v0.17.0
)

require golang.org/x/sys v0.50.0 // indirect

replace github.com/qkv-dev/qkv => ../..
