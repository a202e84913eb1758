// Package files is how qkv's Apache Beam pipelines touch files: through
// Beam's filesystem abstraction (beam/io/filesystem), so that a local path,
// gs://bucket/… (Google Cloud Storage) or memfs:// (in-process, for tests)
// are read and written by the same code. Paths without a scheme are local.
//
// Local files are written as everything qkv writes (internal/atomicfile:
// temporary file, fsync, rename), so an interrupted run leaves any previous
// file whole; object stores commit a file when it is closed.
package files

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/gcs"   // gs://
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // paths without a scheme
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs" // memfs://, in-process

	"github.com/qkv-dev/qkv/internal/atomicfile"
)

// IsLocal reports whether path is on the local file system (no scheme).
func IsLocal(p string) bool { return !strings.Contains(p, "://") }

// Join joins a directory and a file name for local paths and URLs alike.
func Join(dir, name string) string {
	if IsLocal(dir) {
		return path.Join(dir, name)
	}
	return strings.TrimSuffix(dir, "/") + "/" + name
}

// Base is the last element of a local path or URL.
func Base(p string) string { return path.Base(p) }

// Expand lists the files a glob matches, sorted; a glob that matches nothing
// is an error naming it.
func Expand(ctx context.Context, glob string) ([]string, error) {
	fs, err := filesystem.New(ctx, glob)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	got, err := fs.List(ctx, glob)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", glob, err)
	}
	var out []string
	for _, f := range got {
		if IsLocal(f) {
			if st, err := os.Stat(f); err == nil && st.IsDir() {
				continue
			}
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s matches no file", glob)
	}
	slices.Sort(out)
	return out, nil
}

// Exists reports whether a file exists (a failed listing is an error).
func Exists(ctx context.Context, p string) (bool, error) {
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return false, err
	}
	defer fs.Close()
	if IsLocal(p) {
		_, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	got, err := fs.List(ctx, p)
	if err != nil {
		return false, err
	}
	return slices.Contains(got, p), nil
}

// Open opens a file for reading.
func Open(ctx context.Context, p string) (io.ReadCloser, error) {
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return nil, err
	}
	defer fs.Close()
	return fs.OpenRead(ctx, p)
}

// ReadFile reads a whole file.
func ReadFile(ctx context.Context, p string) ([]byte, error) {
	r, err := Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// WriteFile writes a file whole through write: a local file atomically
// (never half-written; the previous one stays until the rename), an object
// when its writer closes. On an error nothing is committed locally.
func WriteFile(ctx context.Context, p string, write func(io.Writer) error) error {
	if IsLocal(p) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		return atomicfile.Write(p, write)
	}
	fs, err := filesystem.New(ctx, p)
	if err != nil {
		return err
	}
	defer fs.Close()
	w, err := fs.OpenWrite(ctx, p)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 1<<16)
	if err := write(bw); err != nil {
		w.Close()
		return err
	}
	if err := bw.Flush(); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

// Lines calls fn for each line of r, numbered from 0, as qkv predict reads
// its input: "\n" ends a line, a final line without one counts, a trailing
// "\r" is dropped, and a byte-order mark at the start of the first line is
// not text. Lines of any length are read whole (a decoder refuses those it
// cannot take, line by line).
func Lines(r io.Reader, fn func(index int, line string) error) error {
	br := bufio.NewReaderSize(r, 1<<16)
	for i := 0; ; i++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		if err == io.EOF && line == "" {
			return nil
		}
		line = strings.TrimSuffix(line, "\n")
		line = strings.TrimRight(line, "\r")
		if i == 0 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if ferr := fn(i, line); ferr != nil {
			return ferr
		}
		if err == io.EOF {
			return nil
		}
	}
}
