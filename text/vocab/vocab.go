// Package vocab maps tokens to the integer ids a model embeds, with the
// special symbols of encoder-decoder training at fixed ids (padding,
// begin and end of sequence, unknown), as in Sutskever et al. 2014 (an
// end-of-sentence symbol ends every sequence) and joeynmt's Vocabulary.
// A vocabulary is saved as text, one symbol a line, its line number (from
// 0) being its id, beside the model.
package vocab

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/internal/excerpt"
)

// The special symbols and their fixed ids.
const (
	PAD = 0 // padding; ignored by the loss
	BOS = 1 // begin of sequence: the decoder's first input
	EOS = 2 // end of sequence
	UNK = 3 // a token the vocabulary does not hold

	PadSymbol = "<pad>"
	BOSSymbol = "<s>"
	EOSSymbol = "</s>"
	UNKSymbol = "<unk>"
)

// Specials are the special symbols in id order.
var Specials = []string{PadSymbol, BOSSymbol, EOSSymbol, UNKSymbol}

// Vocab is a bijection between symbols and ids 0..Len()-1; ids 0..3 are the
// special symbols.
type Vocab struct {
	symbols []string
	index   map[string]int
}

// Counts counts tokens; add every tokenized sequence of the training data
// with Add, then Build a Vocab.
type Counts map[string]int

// Add counts each token of seq once.
func (c Counts) Add(seq []string) {
	for _, t := range seq {
		c[t]++
	}
}

// Build makes a vocabulary of the special symbols followed by every token
// counted at least minFreq times, most frequent first, ties in byte order
// of the symbol, so the result depends only on the counts. maxSize > 0
// caps the size including the 4 specials. Counted tokens equal to a special
// symbol map to the special id and are not added again; empty tokens are
// left out.
func Build(counts Counts, minFreq, maxSize int) *Vocab {
	type sc struct {
		s string
		n int
	}
	var list []sc
	for s, n := range counts {
		if n >= minFreq && s != "" && !slices.Contains(Specials, s) {
			list = append(list, sc{s, n})
		}
	}
	slices.SortFunc(list, func(a, b sc) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return strings.Compare(a.s, b.s)
	})
	if maxSize > 0 {
		list = list[:max(0, min(len(list), maxSize-len(Specials)))]
	}
	syms := make([]string, 0, len(list))
	for _, e := range list {
		syms = append(syms, e.s)
	}
	v, _ := New(syms) // cannot fail: symbols are distinct, non-empty, not special
	return v
}

// New makes a vocabulary of the specials followed by symbols, in order. It
// fails on an empty or repeated symbol or one equal to a special symbol.
func New(symbols []string) (*Vocab, error) {
	v := &Vocab{
		symbols: append(slices.Clone(Specials), symbols...),
		index:   make(map[string]int, len(symbols)+len(Specials)),
	}
	for id, s := range v.symbols {
		if s == "" {
			return nil, fmt.Errorf("vocab: symbol %d is empty", id)
		}
		if prev, dup := v.index[s]; dup {
			return nil, fmt.Errorf("vocab: symbol %s at id %d repeats id %d", excerpt.Quote(s), id, prev)
		}
		v.index[s] = id
	}
	return v, nil
}

// Len is the number of symbols, specials included.
func (v *Vocab) Len() int { return len(v.symbols) }

// Symbols returns all symbols in id order. The slice must not be changed.
func (v *Vocab) Symbols() []string { return v.symbols }

// ID returns the id of symbol s and whether the vocabulary holds it.
func (v *Vocab) ID(s string) (int, bool) {
	id, ok := v.index[s]
	return id, ok
}

// Symbol returns the symbol of id; ids out of range give UNKSymbol.
func (v *Vocab) Symbol(id int) string {
	if id < 0 || id >= len(v.symbols) {
		return UNKSymbol
	}
	return v.symbols[id]
}

// Encode maps tokens to ids, unknown tokens to UNK. It adds no BOS or EOS.
func (v *Vocab) Encode(tokens []string) []int {
	ids := make([]int, len(tokens))
	for i, t := range tokens {
		id, ok := v.index[t]
		if !ok {
			id = UNK
		}
		ids[i] = id
	}
	return ids
}

// EncodeStrict maps tokens to ids and fails on the first unknown token,
// naming it and its position.
func (v *Vocab) EncodeStrict(tokens []string) ([]int, error) {
	ids := make([]int, len(tokens))
	for i, t := range tokens {
		id, ok := v.index[t]
		if !ok {
			return nil, fmt.Errorf("vocab: unknown symbol %s at position %d", excerpt.Quote(t), i)
		}
		ids[i] = id
	}
	return ids, nil
}

// Decode maps ids to symbols, all of them: where to stop (at EOS) and which
// specials to drop is the caller's choice (see Trim). Ids out of range give
// UNKSymbol.
func (v *Vocab) Decode(ids []int) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = v.Symbol(id)
	}
	return out
}

// Trim returns ids up to (not including) the first EOS, without PAD and BOS:
// the usual clean-up of a decoder's output before Decode.
func Trim(ids []int) []int {
	out := make([]int, 0, len(ids))
	for _, id := range ids {
		if id == EOS {
			break
		}
		if id != PAD && id != BOS {
			out = append(out, id)
		}
	}
	return out
}

// Save writes the symbols one a line, in id order. Symbols holding a line
// break cannot be saved and give an error naming them.
func (v *Vocab) Save(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for id, s := range v.symbols {
		if strings.ContainsAny(s, "\n\r") {
			return fmt.Errorf("vocab: symbol %s (id %d) holds a line break and cannot be saved one a line", excerpt.Quote(s), id)
		}
		bw.WriteString(s)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// SaveFile writes the vocabulary to path, atomically: a failure or a crash
// leaves the previous file (if any) as it was.
func (v *Vocab) SaveFile(path string) error {
	return atomicfile.Write(path, v.Save)
}

// bom is the UTF-8 byte-order mark, dropped at the start of a file.
const bom = "\ufeff"

// Load reads a vocabulary written by Save; name is used in errors. The
// first four lines must be the special symbols in order; no line may be
// empty or repeat an earlier one. A UTF-8 byte-order mark at the start (an
// editor's) is dropped, never read as part of a symbol. Errors quote at
// most a short prefix of a symbol.
func Load(r io.Reader, name string) (*Vocab, error) {
	br := bufio.NewReader(r)
	var syms []string
	seen := map[string]int{}
	for lineNo := 1; ; lineNo++ {
		line, err := br.ReadString('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("%s:%d: %w", name, lineNo, err)
		}
		if line == "" && err == io.EOF {
			break
		}
		s := strings.TrimSuffix(line, "\n")
		if lineNo == 1 {
			s = strings.TrimPrefix(s, bom)
		}
		switch {
		case lineNo <= len(Specials) && s != Specials[lineNo-1]:
			return nil, fmt.Errorf("%s:%d: want special symbol %q, found %s", name, lineNo, Specials[lineNo-1], excerpt.Quote(s))
		case s == "":
			return nil, fmt.Errorf("%s:%d: empty symbol", name, lineNo)
		case strings.HasSuffix(s, "\r"):
			return nil, fmt.Errorf("%s:%d: symbol %s ends in a carriage return (file saved with CRLF line ends?)", name, lineNo, excerpt.Quote(s))
		case strings.ContainsRune(s, '\r'):
			// Save refuses such a symbol: it could not be written back.
			return nil, fmt.Errorf("%s:%d: symbol %s holds a carriage return", name, lineNo, excerpt.Quote(s))
		}
		if prev, dup := seen[s]; dup {
			return nil, fmt.Errorf("%s:%d: symbol %s repeats line %d", name, lineNo, excerpt.Quote(s), prev)
		}
		seen[s] = lineNo
		syms = append(syms, s)
		if err == io.EOF {
			break
		}
	}
	if len(syms) < len(Specials) {
		return nil, fmt.Errorf("%s: %d lines, want at least the %d special symbols %q", name, len(syms), len(Specials), Specials)
	}
	return New(syms[len(Specials):])
}

// LoadFile is Load on a file.
func LoadFile(path string) (*Vocab, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Load(f, path)
}

// Has reports whether the vocabulary holds symbol s.
func (v *Vocab) Has(s string) bool {
	_, ok := v.index[s]
	return ok
}
