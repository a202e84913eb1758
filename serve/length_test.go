package serve

import (
	"net/http"
	"testing"
)

// TestRequestLengthLimit: max_len_a and max_len_b bound each output by
// its input's length; the server's defaults (--max-len-a/-b) apply to
// requests that give none; out-of-range values are refused naming the
// field.
func TestRequestLengthLimit(t *testing.T) {
	a, b := 0.0, 2
	_, hs := newTestServer(t, Config{MaxLenA: &a, MaxLenB: &b})
	inputs := []string{"abcdefgh", "abcdefghijkl"}
	check := func(name string, req TranslateRequest, limit func(n int) int) {
		t.Helper()
		for _, r := range translate(t, hs.URL, req).Results {
			if r.Error != "" {
				t.Fatalf("%s: %s", name, r.Error)
			}
			want := limit(len(r.SourceTokens))
			for _, o := range r.Outputs {
				steps := len(o.Tokens)
				if o.Finished {
					steps++
				}
				if steps > want {
					t.Errorf("%s: %q (%d tokens): an output of %d steps, over the limit %d", name, r.Input, len(r.SourceTokens), steps, want)
				}
			}
		}
	}
	check("server defaults", TranslateRequest{Inputs: inputs, Beam: ptr(2)}, func(int) int { return 2 })
	check("request", TranslateRequest{Inputs: inputs, MaxLenA: ptr(0.25), MaxLenB: ptr(1)}, func(n int) int { return n/4 + 1 })
	for _, c := range []struct{ body, field string }{
		{`{"inputs":["abc"],"max_len_a":-1}`, "max_len_a"},
		{`{"inputs":["abc"],"max_len_b":-3}`, "max_len_b"},
		{`{"inputs":["abc"],"max_len_a":0,"max_len_b":0}`, "max_len_a"},
	} {
		code, body := post(t, hs.URL+"/v1/translate", c.body)
		if e := apiError(t, body); code != http.StatusBadRequest || e.Code != CodeOutOfRange || e.Field != c.field {
			t.Errorf("%s: %d %+v", c.body, code, e)
		}
	}
	bad := -1.0
	if _, err := New([]Model{{Name: "g2p", Pipeline: tiny(t)}}, Config{MaxLenA: &bad}); err == nil {
		t.Error("a server with --max-len-a -1 was made")
	}
}
