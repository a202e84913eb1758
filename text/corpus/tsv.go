package corpus

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/internal/excerpt"
)

// Pair is one training example: a source sequence and its target, as text.
type Pair struct {
	Source, Target string
}

// ReadTSV reads source<TAB>target lines. name is used in error messages
// ("name:line: problem"). A UTF-8 byte-order mark at the start of the input
// is dropped, a final line without a newline is accepted, a trailing "\r"
// (Windows line ends) is removed, and lines that are entirely empty are
// skipped. Every other line must hold exactly one tab, with a
// non-empty side on each side of it, in valid UTF-8, and no other carriage
// return.
func ReadTSV(r io.Reader, name string) ([]Pair, error) {
	var pairs []Pair
	err := eachLine(r, name, func(lineNo int, line []byte) error {
		if len(line) == 0 {
			return nil
		}
		if !utf8.Valid(line) {
			return fmt.Errorf("%s:%d: invalid UTF-8 at byte %d of the line", name, lineNo, invalidAt(line))
		}
		src, tgt, ok := bytes.Cut(line, []byte{'\t'})
		switch {
		case bytes.IndexByte(line, '\r') >= 0:
			return fmt.Errorf("%s:%d: carriage return inside the line", name, lineNo)
		case !ok:
			return fmt.Errorf("%s:%d: missing tab between source and target", name, lineNo)
		case bytes.IndexByte(tgt, '\t') >= 0:
			return fmt.Errorf("%s:%d: more than one tab (want source<TAB>target)", name, lineNo)
		case len(src) == 0:
			return fmt.Errorf("%s:%d: empty source side", name, lineNo)
		case len(tgt) == 0:
			return fmt.Errorf("%s:%d: empty target side", name, lineNo)
		}
		pairs = append(pairs, Pair{string(src), string(tgt)})
		return nil
	})
	return pairs, err
}

// ReadTSVFile is ReadTSV on a file.
func ReadTSVFile(path string) ([]Pair, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadTSV(f, path)
}

// WriteTSV writes pairs as source<TAB>target lines. It refuses pairs that
// ReadTSV could not read back (tabs or line breaks inside a side, empty
// sides). A first source that starts with U+FEFF is preceded by a
// byte-order mark, which ReadTSV drops, so the source reads back whole.
func WriteTSV(w io.Writer, pairs []Pair) error {
	bw := bufio.NewWriter(w)
	for i, p := range pairs {
		for _, side := range []string{p.Source, p.Target} {
			if side == "" || strings.ContainsAny(side, "\t\n\r") {
				return fmt.Errorf("pair %d (%s → %s): a side is empty or holds a tab or line break", i+1, excerpt.Quote(p.Source), excerpt.Quote(p.Target))
			}
		}
		if i == 0 && strings.HasPrefix(p.Source, BOM) {
			// ReadTSV drops one byte-order mark at the start of a file:
			// write one so that the source keeps its own U+FEFF.
			bw.WriteString(BOM)
		}
		bw.WriteString(p.Source)
		bw.WriteByte('\t')
		bw.WriteString(p.Target)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// WriteTSVFile is WriteTSV to path, atomically: a failure or a crash leaves
// the previous file (if any) as it was.
func WriteTSVFile(path string, pairs []Pair) error {
	return atomicfile.Write(path, func(w io.Writer) error { return WriteTSV(w, pairs) })
}

// BOM is the UTF-8 byte-order mark that some editors (Notepad, Excel's
// "CSV UTF-8") write at the start of a file. Every reader drops it there, so
// it never becomes part of the first source or a vocabulary symbol.
const BOM = "\ufeff"

// eachLine calls fn with every line of r (1-based number, without "\n" or a
// trailing "\r"), after dropping a byte-order mark at the start of the
// first line. Lines may be of any length.
func eachLine(r io.Reader, name string, fn func(lineNo int, line []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadBytes('\n')
		if lineNo == 1 {
			line = bytes.TrimPrefix(line, []byte(BOM))
		}
		if len(line) > 0 {
			line = bytes.TrimSuffix(line, []byte{'\n'})
			line = bytes.TrimSuffix(line, []byte{'\r'})
			if ferr := fn(lineNo, line); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s:%d: %w", name, lineNo, err)
		}
	}
}

// invalidAt is the byte offset of the first invalid UTF-8 sequence in b.
func invalidAt(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}
