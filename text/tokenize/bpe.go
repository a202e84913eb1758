package tokenize

import (
	"bufio"
	"container/heap"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/internal/excerpt"
)

// BPE is byte-pair encoding (Sennrich et al. 2016) over code points: text
// is cut into words at spaces, each word keeps its preceding space as a
// leading Space marker (with one marker added at the start of the text, as
// SentencePiece's dummy prefix, so that a word is the same symbol at the
// start of a line and after a space), and the learned merges are applied
// to each word in order of rank. Detokenization is exact.
//
// A BPE is safe for concurrent use.
type BPE struct {
	merges []Merge
	rank   map[[2]string]int
	known  func(string) bool // when set, pieces it rejects are split (WithVocabulary)
}

// Merge is one learned merge: the adjacent symbols Left and Right become
// the symbol Left+Right.
type Merge struct{ Left, Right string }

// NewBPE returns the tokenizer that applies merges, highest priority first.
func NewBPE(merges []Merge) *BPE {
	b := &BPE{merges: merges, rank: make(map[[2]string]int, len(merges))}
	for i, m := range merges {
		k := [2]string{m.Left, m.Right}
		if _, dup := b.rank[k]; !dup {
			b.rank[k] = i
		}
	}
	return b
}

// Merges returns the merges in rank order. The slice must not be changed.
func (b *BPE) Merges() []Merge { return b.merges }

// words cuts text into BPE words, each a slice of base symbols; every word
// but possibly the first starts with Space.
func words(text string) [][]string {
	if text == "" {
		return nil
	}
	syms := symbols(" " + text)
	var out [][]string
	start := 0
	for i := 1; i <= len(syms); i++ {
		if i == len(syms) || syms[i] == Space {
			out = append(out, syms[start:i])
			start = i
		}
	}
	return out
}

// Tokenize splits text into subword tokens. The first token starts with
// Space (the dummy prefix); Detokenize removes it.
func (b *BPE) Tokenize(text string) []string {
	var out []string
	for _, w := range words(text) {
		if b.known != nil {
			out = append(out, b.applyWordKnown(w)...)
		} else {
			out = append(out, b.applyWord(w)...)
		}
	}
	return out
}

// applyWord merges the symbols of one word: repeatedly the adjacent pair
// with the best (lowest) rank, all its non-overlapping occurrences from left
// to right, until no pair has a merge (subword-nmt's apply_bpe).
func (b *BPE) applyWord(syms []string) []string {
	w := append([]string(nil), syms...)
	for len(w) > 1 {
		best, bestRank := [2]string{}, -1
		for i := 0; i+1 < len(w); i++ {
			if r, ok := b.rank[[2]string{w[i], w[i+1]}]; ok && (bestRank < 0 || r < bestRank) {
				best, bestRank = [2]string{w[i], w[i+1]}, r
			}
		}
		if bestRank < 0 {
			break
		}
		merged := best[0] + best[1]
		out := w[:0]
		for i := 0; i < len(w); i++ {
			if i+1 < len(w) && w[i] == best[0] && w[i+1] == best[1] {
				out = append(out, merged)
				i++
			} else {
				out = append(out, w[i])
			}
		}
		w = out
	}
	return w
}

// Detokenize joins tokens, turns Space markers back into spaces and removes
// the space of the dummy prefix.
func (b *BPE) Detokenize(tokens []string) string {
	s := strings.Join(tokens, "")
	if !strings.HasPrefix(s, Space) {
		return decode(s)
	}
	return decode(s[len(Space):])
}

// BPETrainer counts the words of a corpus and learns merges from them.
type BPETrainer struct {
	counts map[string]int // word (its base symbols joined) → frequency
	split  map[string][]string
}

// NewBPETrainer returns an empty trainer.
func NewBPETrainer() *BPETrainer {
	return &BPETrainer{counts: map[string]int{}, split: map[string][]string{}}
}

// Add counts the words of one text (a line or a sentence).
func (t *BPETrainer) Add(text string) {
	for _, w := range words(text) {
		k := strings.Join(w, "")
		if _, ok := t.split[k]; !ok {
			t.split[k] = w
		}
		t.counts[k]++
	}
}

// LearnBPE learns up to n merges from texts (see BPETrainer.Learn).
func LearnBPE(texts []string, n int) *BPE {
	t := NewBPETrainer()
	for _, s := range texts {
		t.Add(s)
	}
	return t.Learn(n, 2)
}

type pair struct{ a, b int32 }

// Learn learns up to n merges: each step merges the most frequent adjacent
// pair of symbols (frequency counted over word occurrences), ties broken by
// the smaller Left, then the smaller Right, in byte order, so the result
// depends only on the counted words. It stops early when the most frequent
// pair occurs fewer than minFreq times (2 in subword-nmt; values below 1
// count as 1).
//
// Pair counts are updated incrementally, touching only the words that
// contain the merged pair, and a heap with lazy deletion finds the best
// pair, so learning costs about the size of the words changed per merge.
func (t *BPETrainer) Learn(n, minFreq int) *BPE {
	minFreq = max(minFreq, 1)
	// Intern symbols as int32 ids.
	var names []string
	ids := map[string]int32{}
	intern := func(s string) int32 {
		id, ok := ids[s]
		if !ok {
			id = int32(len(names))
			ids[s] = id
			names = append(names, s)
		}
		return id
	}
	keys := make([]string, 0, len(t.counts))
	for k := range t.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the result does not depend on it, but the id order then does not vary

	type word struct {
		syms []int32
		freq int
	}
	ws := make([]word, len(keys))
	for i, k := range keys {
		split := t.split[k]
		syms := make([]int32, len(split))
		for j, s := range split {
			syms[j] = intern(s)
		}
		ws[i] = word{syms, t.counts[k]}
	}
	count := map[pair]int{}
	where := map[pair][]int32{} // word indices that may contain the pair
	for i, w := range ws {
		for j := 0; j+1 < len(w.syms); j++ {
			p := pair{w.syms[j], w.syms[j+1]}
			if count[p] == 0 || last(where[p]) != int32(i) {
				where[p] = append(where[p], int32(i))
			}
			count[p] += w.freq
		}
	}
	h := &pairHeap{names: &names}
	for p, c := range count {
		h.items = append(h.items, heapItem{p, c})
	}
	heap.Init(h)

	var merges []Merge
	changed := map[pair]struct{}{}
	for len(merges) < n && h.Len() > 0 {
		top := heap.Pop(h).(heapItem)
		if c := count[top.p]; c != top.count {
			continue // stale entry; the current count was pushed when it changed
		}
		if top.count < minFreq {
			break
		}
		p := top.p
		newSym := intern(names[p.a] + names[p.b])
		merges = append(merges, Merge{names[p.a], names[p.b]})
		clear(changed)
		for _, wi := range where[p] {
			w := &ws[wi]
			if !containsPair(w.syms, p) {
				continue
			}
			for j := 0; j+1 < len(w.syms); j++ {
				q := pair{w.syms[j], w.syms[j+1]}
				count[q] -= w.freq
				changed[q] = struct{}{}
			}
			out := make([]int32, 0, len(w.syms))
			for j := 0; j < len(w.syms); j++ {
				if j+1 < len(w.syms) && w.syms[j] == p.a && w.syms[j+1] == p.b {
					out = append(out, newSym)
					j++
				} else {
					out = append(out, w.syms[j])
				}
			}
			w.syms = out
			for j := 0; j+1 < len(w.syms); j++ {
				q := pair{w.syms[j], w.syms[j+1]}
				count[q] += w.freq
				changed[q] = struct{}{}
				if last(where[q]) != wi {
					where[q] = append(where[q], wi)
				}
			}
		}
		delete(where, p)
		for q := range changed {
			if c := count[q]; c > 0 {
				heap.Push(h, heapItem{q, c})
			} else {
				delete(count, q)
			}
		}
	}
	return NewBPE(merges)
}

func last(s []int32) int32 {
	if len(s) == 0 {
		return -1
	}
	return s[len(s)-1]
}

func containsPair(s []int32, p pair) bool {
	for j := 0; j+1 < len(s); j++ {
		if s[j] == p.a && s[j+1] == p.b {
			return true
		}
	}
	return false
}

type heapItem struct {
	p     pair
	count int
}

// pairHeap orders pairs by count (descending), then Left, then Right.
type pairHeap struct {
	items []heapItem
	names *[]string
}

func (h *pairHeap) Len() int { return len(h.items) }
func (h *pairHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if a.count != b.count {
		return a.count > b.count
	}
	n := *h.names
	if n[a.p.a] != n[b.p.a] {
		return n[a.p.a] < n[b.p.a]
	}
	return n[a.p.b] < n[b.p.b]
}
func (h *pairHeap) Swap(i, j int) { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *pairHeap) Push(x any)    { h.items = append(h.items, x.(heapItem)) }
func (h *pairHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}

// bpeHeader is the first line of a merges file.
const bpeHeader = "#qkv-bpe v1"

// Save writes the merges as text: a header line, then one merge a line,
// its two symbols as Go-quoted strings separated by a space, e.g.
// "▁t" "he". Quoting keeps tabs, line breaks and invalid UTF-8 exact.
func (b *BPE) Save(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, bpeHeader)
	for _, m := range b.merges {
		fmt.Fprintf(bw, "%s %s\n", strconv.Quote(m.Left), strconv.Quote(m.Right))
	}
	return bw.Flush()
}

// SaveFile writes the merges to path, atomically: a failure or a crash
// leaves the previous file (if any) as it was.
func (b *BPE) SaveFile(path string) error {
	return atomicfile.Write(path, b.Save)
}

// maxBPELine bounds a line of a merges file (two quoted symbols).
const maxBPELine = 16 << 20

// LoadBPE reads merges written by Save; name is used in errors. A UTF-8
// byte-order mark before the header is dropped; errors quote at most a
// short prefix of an offending line.
func LoadBPE(r io.Reader, name string) (*BPE, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxBPELine)
	var merges []Merge
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if lineNo == 1 {
			if line = strings.TrimPrefix(line, "\ufeff"); line != bpeHeader { // an editor's byte-order mark
				return nil, fmt.Errorf("%s:1: not a qkv BPE merges file (want first line %q)", name, bpeHeader)
			}
			continue
		}
		if line == "" {
			continue
		}
		left, rest, err := unquotePrefix(line)
		if err == nil {
			if !strings.HasPrefix(rest, " ") {
				err = fmt.Errorf("want a space between the two quoted symbols")
			} else {
				var right, tail string
				right, tail, err = unquotePrefix(rest[1:])
				if err == nil && tail != "" {
					err = fmt.Errorf("unexpected text %s after the second symbol", excerpt.Quote(tail))
				}
				if err == nil && (left == "" || right == "") {
					err = fmt.Errorf("empty symbol")
				}
				merges = append(merges, Merge{left, right})
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, lineNo, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d MiB: not a merges file", name, lineNo+1, maxBPELine>>20)
		}
		return nil, fmt.Errorf("%s:%d: %w", name, lineNo+1, err)
	}
	if lineNo == 0 {
		return nil, fmt.Errorf("%s: empty file (want first line %q)", name, bpeHeader)
	}
	return NewBPE(merges), nil
}

// LoadBPEFile is LoadBPE on a file.
func LoadBPEFile(path string) (*BPE, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return LoadBPE(f, path)
}

// unquotePrefix unquotes the Go string literal at the start of s.
func unquotePrefix(s string) (value, rest string, err error) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil || !strings.HasPrefix(q, `"`) {
		return "", "", fmt.Errorf("want a double-quoted symbol at %s", excerpt.Quote(s))
	}
	v, err := strconv.Unquote(q)
	return v, s[len(q):], err
}
