package main

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// smallModel trains, once per test binary, a tiny Transformer on the toy
// letters→phones task for a few dozen steps (under a second), with two
// snapshots for qkv average, and returns its directory and its training
// corpus. Sources are 2 to 6 of the letters a–f, at most 12 long.
var smallModel = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(filepath.Dir(qkvBin), "small-model") // removed with the binary by TestMain
	return dir, os.MkdirAll(dir, 0o755)
})

var trainSmall sync.Once

func trainedModel(t *testing.T) (model, corpusFile string) {
	t.Helper()
	dir, err := smallModel()
	if err != nil {
		t.Fatal(err)
	}
	model, corpusFile = filepath.Join(dir, "run"), filepath.Join(dir, "train.tsv")
	trainSmall.Do(func() {
		g2pLike(t, dir, "train.tsv", 400, 11)
		valid := g2pLike(t, dir, "valid.tsv", 30, 12)
		if _, stderr, err := qkv(t, "", "train", "--arch", "transformer", "--preset", "tiny-transformer",
			"--train", corpusFile, "--valid", valid, "--out", model, "--max-steps", "40", "--valid-every", "20",
			"--keep-snapshots", "2", "--max-tokens", "400", "--metric", "none", "--schedule", "inverse-sqrt",
			"--lr", "3e-3", "--warmup", "10", "--max-src-len", "12"); err != nil {
			t.Fatalf("training the test model: %v\n%s", err, stderr)
		}
	})
	if _, err := os.Stat(filepath.Join(model, "best.safetensors")); err != nil {
		t.Fatalf("the test model was not trained: %v", err)
	}
	return model, corpusFile
}
