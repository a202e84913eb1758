package pipeline

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/search"
)

// TestTranslateContextStops: a context done before decoding leaves every
// line undecoded with the context's error; one cancelled by the search's
// first steps stops decoding at the next step.
func TestTranslateContextStops(t *testing.T) {
	p := untrained(t, charWord)
	lines := []string{"Open the file", "Save"}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i, r := range p.TranslateContext(ctx, lines, Options{}) {
		if !errors.Is(r.Err, context.Canceled) || r.Hyps != nil {
			t.Errorf("line %d: %v, %d outputs; want context.Canceled and none", i, r.Err, len(r.Hyps))
		}
	}
	// Cancelled between steps: the decoder's Step sees it.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	steps := 0
	dec := ctxDecoder{stepCounter{&steps, cancel}, ctx}
	if _, err := dec.Step([]int32{0}); err != nil {
		t.Fatalf("first step: %v", err)
	}
	if _, err := dec.Step([]int32{0}); !errors.Is(err, context.Canceled) || steps != 1 {
		t.Errorf("step after cancel: %v after %d steps; want context.Canceled after 1", err, steps)
	}
}

// stepCounter is a decoder whose first Step cancels the context.
type stepCounter struct {
	n      *int
	cancel func()
}

func (s stepCounter) Step([]int32) ([]float32, error)   { *s.n++; s.cancel(); return []float32{0}, nil }
func (s stepCounter) Select([]int32)                    {}
func (s stepCounter) VocabSize() int                    { return 1 }
func (s stepCounter) LastAttention(int) []search.Map    { return nil }
func (s stepCounter) EncoderAttention(int) []search.Map { return nil }

// TestTranslateLines: Options.Lines numbers each line for sampling, so a
// line decoded among strangers samples as it does at that line of a file.
func TestTranslateLines(t *testing.T) {
	p := untrained(t, charWord)
	so := search.Options{Sample: true, Temperature: 3, NBest: 2, Seed: 7}
	texts := func(rs []Result) []string {
		var out []string
		for i, r := range rs {
			if r.Err != nil {
				t.Fatalf("line %d: %v", i, r.Err)
			}
			for _, h := range r.Hyps {
				out = append(out, h.Text)
			}
		}
		return out
	}
	want := texts(p.Translate([]string{"Save", "Close"}, Options{Search: so, FirstLine: 3}))
	got := texts(p.Translate([]string{"Close", "Open", "Save"}, Options{Search: so, Lines: []int{4, 0, 3}}))
	if !slices.Equal(got[4:], want[:2]) || !slices.Equal(got[:2], want[2:]) {
		t.Errorf("with Lines: %q; at lines 3 and 4 of a file: %q", got, want)
	}
	rs := p.Translate([]string{"Save", "Close"}, Options{Search: so, Lines: []int{1}})
	for i, r := range rs {
		if r.Err == nil || !strings.Contains(r.Err.Error(), "1 line numbers for 2 lines") {
			t.Errorf("line %d: %v", i, r.Err)
		}
	}
}
