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
// name in the directory (or a path), or "" for the best weights, else the
// last (the choice of pipeline.Load). It returns the local directory and
// the weights file's name in it; remove the directory when done.
func FetchModel(ctx context.Context, dir, weights string) (local, weightsName string, err error) {
	srcs, err := ModelFiles(ctx, dir, weights)
	if err != nil {
		return "", "", err
	}
	local, err = os.MkdirTemp("", "qkv-beam-model-")
	if err != nil {
		return "", "", err
	}
	for _, src := range srcs {
		if err := copyFile(ctx, src, filepath.Join(local, Base(src))); err != nil {
			os.RemoveAll(local)
			return "", "", fmt.Errorf("model %s: %w", dir, err)
		}
	}
	return local, Base(srcs[len(srcs)-1]), nil
}

// ModelFiles lists the files of a model directory that decoding reads, the
// weights last, or returns an error naming the first one missing; the
// front ends call it before starting a pipeline, to fail at once.
func ModelFiles(ctx context.Context, dir, weights string) ([]string, error) {
	if weights == "" {
		weights = pipeline.BestFile
		ok, err := Exists(ctx, Join(dir, weights))
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", dir, err)
		}
		if !ok {
			weights = pipeline.LastFile
		}
	}
	weightsPath := weights
	if !strings.Contains(weights, "/") {
		weightsPath = Join(dir, weights) // a bare name is in the directory, as pipeline.InDir reads it
	}
	type file struct {
		src      string
		required bool
	}
	var out []string
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
			return nil, fmt.Errorf("model %s: %w", dir, err)
		}
		switch {
		case !ok && f.src == Join(dir, pipeline.LastFile):
			return nil, fmt.Errorf("model %s: no weights: neither %s nor %s exists", dir, pipeline.BestFile, pipeline.LastFile)
		case !ok && f.required:
			return nil, fmt.Errorf("model %s: %s is missing", dir, f.src)
		case ok:
			out = append(out, f.src)
		}
	}
	return out, nil
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
