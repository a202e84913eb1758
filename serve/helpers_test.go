package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/train"
)

// g2pPairs is a toy letters→phones corpus: each letter has a fixed
// "phone", so a tiny model learns it in a few dozen steps.
func g2pPairs(n int, seed uint64) []corpus.Pair {
	rng := rand.New(rand.NewPCG(seed, 1))
	pairs := make([]corpus.Pair, n)
	for i := range pairs {
		var src []byte
		var tgt []string
		for range 2 + rng.IntN(5) {
			c := byte('a' + rng.IntN(6))
			src = append(src, c)
			tgt = append(tgt, strings.ToUpper(string(c))+"H")
		}
		pairs[i] = corpus.Pair{Source: string(src), Target: strings.Join(tgt, " ")}
	}
	return pairs
}

var (
	tinyOnce sync.Once
	tinyPipe *pipeline.Pipeline
	tinyErr  error
)

// tiny returns a small Transformer trained briefly on g2pPairs, shared by
// the tests of the package (decoding never changes it).
func tiny(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	tinyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "qkv-serve-test")
		if err != nil {
			tinyErr = err
			return
		}
		defer os.RemoveAll(dir)
		pr, err := pipeline.Prepare(g2pPairs(300, 1), g2pPairs(20, 2), pipeline.PrepareOptions{
			Data: pipeline.DataConfig{SrcTokenizer: pipeline.TokChar, TgtTokenizer: pipeline.TokWord, MaxSrcLen: 12, MaxTgtLen: 12}})
		if err != nil {
			tinyErr = err
			return
		}
		cfg := model.Config{Arch: model.ArchTransformer, SrcVocab: pr.Src.Len(), TgtVocab: pr.Tgt.Len(), Seed: 3,
			DModel: 32, Heads: 2, EncLayers: 1, DecLayers: 1, DFF: 64, MaxLen: 32}
		m, err := model.New(cfg)
		if err != nil {
			tinyErr = err
			return
		}
		tr, err := train.New(m, pr.Train, pr.Valid, dir, train.Options{MaxTokens: 400, MaxSteps: 500,
			Schedule: "constant", LR: 3e-3, LabelSmoothing: 0.1, Seed: 1})
		if err != nil {
			tinyErr = err
			return
		}
		if _, err := tr.Run(context.Background()); err != nil {
			tinyErr = err
			return
		}
		tinyPipe = pr.Pipeline(dir, m)
	})
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyPipe
}

// newTestServer serves the tiny model as "g2p" (and any more models) over
// a real HTTP server on the loopback interface.
func newTestServer(t *testing.T, cfg Config, more ...Model) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(append([]Model{{Name: "g2p", Pipeline: tiny(t)}}, more...), cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return s, hs
}

// post sends body to url as JSON and returns the status and the body.
func post(t *testing.T, url string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	resp, err := http.Post(url, "application/json", r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out
}

// translate posts a request that must succeed and returns its answer.
func translate(t *testing.T, url string, req TranslateRequest) TranslateResponse {
	t.Helper()
	code, body := post(t, url+"/v1/translate", req)
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var resp TranslateResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	return resp
}

// apiError decodes an error answer.
func apiError(t *testing.T, body []byte) APIError {
	t.Helper()
	var e ErrorResponse
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not a JSON error (%v): %s", err, body)
	}
	return e.Error
}

func ptr[T any](v T) *T { return &v }

// words are inputs the tiny model reads, of several lengths.
func words(n int) []string {
	out := make([]string, n)
	for i, p := range g2pPairs(n, 99) {
		out[i] = p.Source
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var _ = fmt.Sprint
