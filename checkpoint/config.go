package checkpoint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"unicode/utf8"
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

// utf8BOM is the UTF-8 byte-order mark some editors put at the start of a
// file. It is not JSON whitespace, so it is dropped before decoding.
var utf8BOM = []byte("\ufeff")

// LoadJSON reads the JSON file at path into v. A field that v does not
// have is an error (a misspelt or stale setting must not be ignored), and
// so is anything after the JSON value. A UTF-8 byte-order mark at the start
// is dropped. Errors name the file (and the line and column of a syntax
// error) and quote at most a short prefix of any offending text.
func LoadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return DecodeJSON(b, path, v)
}

// DecodeJSON is LoadJSON on the content b of the file called path.
func DecodeJSON(b []byte, path string, v any) error {
	b = bytes.TrimPrefix(b, utf8BOM)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if se, ok := err.(*json.SyntaxError); ok {
			line, col := lineCol(b, se.Offset)
			return fmt.Errorf("checkpoint: %s:%d:%d: %s", path, line, col, shorten(err.Error()))
		}
		return fmt.Errorf("checkpoint: %s: %s", path, shorten(err.Error()))
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

// maxErrorText bounds the text of a decoder's error that LoadJSON passes
// on: encoding/json quotes an unknown field's whole name, which may be
// megabytes long in a corrupt file.
const maxErrorText = 200

// shorten cuts an error text longer than maxErrorText (never inside a
// UTF-8 sequence) and says how long it was.
func shorten(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes in all)", s[:cut], len(s))
}
