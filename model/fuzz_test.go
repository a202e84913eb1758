package model

import (
	"strings"
	"testing"
)

// FuzzConfig checks Validate and ParamCount on arbitrary sizes: no panic,
// errors name a config key, and for every valid configuration small enough
// to build in a moment, ParamCount equals what New allocates.
func FuzzConfig(f *testing.F) {
	f.Add(uint8(0), 7, 9, 8, 2, 1, 1, 16, 8, 0, 0, 0, 0, uint8(0))
	f.Add(uint8(0), 7, 7, 8, 8, 2, 1, 3, 1, 0, 0, 0, 0, uint8(15))
	f.Add(uint8(1), 5, 6, 0, 0, 0, 0, 0, 0, 3, 4, 2, 0, uint8(16))
	f.Add(uint8(2), 5, 6, 0, 0, 0, 0, 0, 0, 3, 4, 3, 5, uint8(0))
	f.Add(uint8(0), 1, 1, 1_000_000_000, 1, 1, 1, 1, 1, 0, 0, 0, 0, uint8(0))
	f.Add(uint8(2), -1, 6, 0, 0, 0, 0, 0, 0, 3, 4, 3, 5, uint8(0))
	archs := []string{ArchTransformer, ArchSeq2Seq, ArchRNNSearch, "lstm"}
	f.Fuzz(func(t *testing.T, arch uint8, srcV, tgtV, dModel, heads, encL, decL, dFF, maxLen, embed, hidden, layers, attnDim int, flags uint8) {
		c := Config{
			Arch: archs[int(arch)%len(archs)], SrcVocab: srcV, TgtVocab: tgtV,
			DModel: dModel, Heads: heads, EncLayers: encL, DecLayers: decL, DFF: dFF, MaxLen: maxLen,
			PreNorm: flags&1 != 0, FinalNorm: flags&2 != 0, ShareEmb: flags&4 != 0, TieOutput: flags&8 != 0,
			ReverseSource: flags&16 != 0, GELU: flags&32 != 0,
			Embed: embed, Hidden: hidden, Layers: layers, AttnDim: attnDim,
		}
		n := c.ParamCount() // any sizes: no panic, no overflow
		if err := c.Validate(); err != nil {
			if !strings.HasPrefix(err.Error(), "model config: ") {
				t.Fatalf("error %q does not say it is about the model config", err)
			}
			return
		}
		if n == 0 {
			t.Fatalf("valid config %+v without parameters", c)
		}
		if n > 200_000 || c.MaxLen*c.DModel > 200_000 {
			return // valid but too big to build in every fuzz iteration
		}
		m, err := New(c)
		if err != nil {
			t.Fatalf("%+v: valid but New fails: %v", c, err)
		}
		var have uint64
		for _, p := range m.Params() {
			have += uint64(len(p.Data))
		}
		if have != n {
			t.Fatalf("%+v: ParamCount %d, New allocated %d", c, n, have)
		}
	})
}
