package checkpoint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// SaveJSON writes v as indented JSON (with a final newline) to path,
// atomically (see WriteFileAtomic). Configs, vocabularies and trainer state
// beside a checkpoint use it.
func SaveJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: save %s: %w", path, err)
	}
	b = append(b, '\n')
	return WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// LoadJSON reads the JSON file at path into v. A field that v does not
// have is an error (a misspelt or stale setting must not be ignored), and
// so is anything after the JSON value.
func LoadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if se, ok := err.(*json.SyntaxError); ok {
			line, col := lineCol(b, se.Offset)
			return fmt.Errorf("checkpoint: %s:%d:%d: %w", path, line, col, err)
		}
		return fmt.Errorf("checkpoint: %s: %w", path, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("checkpoint: %s: data after the JSON value", path)
	}
	return nil
}

// lineCol converts a byte offset to a 1-based line and column.
func lineCol(b []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(b)))
	before := b[:off]
	line = 1 + bytes.Count(before, []byte{'\n'})
	col = int(off) - (bytes.LastIndexByte(before, '\n') + 1)
	return line, col
}
