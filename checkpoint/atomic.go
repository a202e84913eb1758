package checkpoint

import (
	"fmt"
	"io"

	"github.com/qkv-dev/qkv/internal/atomicfile"
)

// WriteFileAtomic creates or replaces the file at path with what write
// produces, through qkv's one atomic writer (internal/atomicfile): a
// temporary file in the same directory, flushed, fsynced and renamed over
// path. If write (or any of those steps) fails, or write panics, the
// temporary file is removed and path keeps its previous content. A new file
// gets mode 0644; a replaced file keeps its mode.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	if err := atomicfile.Write(path, write); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
