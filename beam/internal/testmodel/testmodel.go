// Package testmodel gives the Beam pipelines' tests what they compare
// against: the qkv binary built from this repository, and a small G2P-like
// Transformer trained with it in seconds (each letter maps to a fixed
// "phone", so a few hundred steps learn it).
package testmodel

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Root is the qkv repository's root, from this file's place in it.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Corpus returns n lines of "letters<TAB>phones" over the letters a–f.
func Corpus(n int, seed uint64) string {
	rng := rand.New(rand.NewPCG(seed, 1))
	var b strings.Builder
	for range n {
		var src []byte
		var tgt []string
		for range 2 + rng.IntN(7) {
			c := byte('a' + rng.IntN(6))
			src = append(src, c)
			tgt = append(tgt, strings.ToUpper(string(c))+"H")
		}
		fmt.Fprintf(&b, "%s\t%s\n", src, strings.Join(tgt, " "))
	}
	return b.String()
}

// Build builds the qkv binary into dir and returns its path.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "qkv")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/qkv")
	cmd.Dir = Root()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building qkv: %v\n%s", err, out)
	}
	return bin, nil
}

// Train trains the small model with the qkv binary into dir/model.
func Train(qkv, dir string) (string, error) {
	train := filepath.Join(dir, "train.tsv")
	valid := filepath.Join(dir, "valid.tsv")
	if err := os.WriteFile(train, []byte(Corpus(1000, 1)), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(valid, []byte(Corpus(40, 2)), 0o644); err != nil {
		return "", err
	}
	model := filepath.Join(dir, "model")
	_, stderr, err := Run(qkv, "", "train", "--threads", "1", "--arch", "transformer", "--preset", "tiny-transformer",
		"--train", train, "--valid", valid, "--out", model, "--max-steps", "300", "--valid-every", "300",
		"--max-tokens", "800", "--schedule", "inverse-sqrt", "--lr", "3e-3", "--warmup", "30")
	if err != nil {
		return "", fmt.Errorf("qkv train: %v\n%s", err, stderr)
	}
	return model, nil
}

// Run runs the qkv binary with stdin and returns stdout, stderr and the
// error.
func Run(qkv, stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(qkv, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}
