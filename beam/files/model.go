package files

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/qkv-dev/qkv/pipeline"
)

// FetchModel copies what decoding needs from a model directory (config,
// vocabularies, BPE merges, one weights file) through Beam's filesystem into
// a fresh local directory, so that a model on an object store loads as a
// local one does; a worker does this once (DoFn Setup). weights is a file
// name in the directory, or "" for the best weights, else the last (the
// choice of pipeline.Load). It returns the local directory and the weights
// file's name in it; remove the directory when done.
func FetchModel(ctx context.Context, dir, weights string) (local, weightsName string, err error) {
	if weights == "" {
		weights = pipeline.BestFile
		ok, err := Exists(ctx, Join(dir, weights))
		if err != nil {
			return "", "", err
		}
		if !ok {
			weights = pipeline.LastFile
		}
	}
	local, err = os.MkdirTemp("", "qkv-beam-model-")
	if err != nil {
		return "", "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(local)
		}
	}()
	weightsPath := weights
	if !strings.Contains(weights, "/") {
		weightsPath = Join(dir, weights) // a bare name is in the directory, as pipeline.InDir reads it
	}
	type file struct {
		src      string
		required bool
	}
	for _, f := range []file{
		{Join(dir, pipeline.ConfigFile), true},
		{Join(dir, pipeline.SrcVocabFile), true},
		{Join(dir, pipeline.TgtVocabFile), true},
		{Join(dir, pipeline.SrcBPEFile), false}, // only BPE models have them
		{Join(dir, pipeline.TgtBPEFile), false},
		{weightsPath, true},
	} {
		ok, err := Exists(ctx, f.src)
		if err != nil {
			return "", "", fmt.Errorf("model %s: %w", dir, err)
		}
		switch {
		case !ok && f.src == Join(dir, pipeline.LastFile):
			return "", "", fmt.Errorf("model %s: no weights: neither %s nor %s exists", dir, pipeline.BestFile, pipeline.LastFile)
		case !ok && f.required:
			return "", "", fmt.Errorf("model %s: %s is missing", dir, f.src)
		case !ok:
			continue
		}
		if err := copyFile(ctx, f.src, filepath.Join(local, Base(f.src))); err != nil {
			return "", "", fmt.Errorf("model %s: %w", dir, err)
		}
	}
	return local, filepath.Base(weights), nil
}

func copyFile(ctx context.Context, src, dst string) error {
	r, err := Open(ctx, src)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("reading %s: %w", src, err)
	}
	return f.Close()
}
