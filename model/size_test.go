package model

import (
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestParamCountExact: ParamCount, computed from the configuration alone,
// equals the number of values New allocates, for every preset and for the
// options that change the set of parameters.
func TestParamCountExact(t *testing.T) {
	var cfgs []Config
	names := []string{}
	for _, name := range PresetNames() {
		c := Presets[name]
		c.SrcVocab, c.TgtVocab = 37, 41
		cfgs, names = append(cfgs, c), append(names, name)
	}
	tiny := Presets["tiny-transformer"]
	tiny.SrcVocab, tiny.TgtVocab = 37, 41
	variant := func(name string, f func(*Config)) {
		c := tiny
		f(&c)
		cfgs, names = append(cfgs, c), append(names, name)
	}
	variant("tie_output", func(c *Config) { c.TieOutput = true })
	variant("share_emb", func(c *Config) { c.ShareEmb, c.TgtVocab = true, c.SrcVocab })
	variant("share_emb+tie_output", func(c *Config) { c.ShareEmb, c.TieOutput, c.TgtVocab = true, true, c.SrcVocab })
	variant("pre_norm", func(c *Config) { c.PreNorm = true })
	variant("final_norm, 1+3 layers, odd d_ff", func(c *Config) { c.FinalNorm, c.EncLayers, c.DecLayers, c.DFF = true, 1, 3, 77 })
	variant("one head", func(c *Config) { c.Heads, c.DModel = 1, 6 })
	variant("copy", func(c *Config) { c.Copy, c.TgtVocab = true, c.SrcVocab })
	cfgs = append(cfgs, Config{Arch: ArchRNNSearch, SrcVocab: 13, TgtVocab: 13, Embed: 5, Hidden: 7, Layers: 2, AttnDim: 11, Copy: true})
	names = append(names, "rnnsearch copy")
	for _, arch := range []string{ArchSeq2Seq, ArchRNNSearch} {
		for _, layers := range []int{1, 3} {
			c := Config{Arch: arch, SrcVocab: 13, TgtVocab: 9, Embed: 5, Hidden: 7, Layers: layers, AttnDim: 11}
			cfgs, names = append(cfgs, c), append(names, arch+" layers "+string(rune('0'+layers)))
			c.ReverseSource = true
			cfgs, names = append(cfgs, c), append(names, arch+" reverse_source")
		}
	}
	for i, c := range cfgs {
		m, err := New(c)
		if err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
		var n uint64
		for _, p := range m.Params() {
			n += uint64(len(p.Data))
		}
		if got := c.ParamCount(); got != n {
			t.Errorf("%s: ParamCount %d, but the model has %d values", names[i], got, n)
		}
	}
}

// TestParamCountSaturates: sizes whose product overflows give
// math.MaxUint64, not a wrapped-around small number.
func TestParamCountSaturates(t *testing.T) {
	for _, c := range []Config{
		{Arch: ArchTransformer, SrcVocab: math.MaxInt, TgtVocab: math.MaxInt, DModel: math.MaxInt, Heads: 1, EncLayers: math.MaxInt, DecLayers: 1, DFF: math.MaxInt, MaxLen: 1},
		{Arch: ArchTransformer, SrcVocab: 1 << 32, TgtVocab: 1, DModel: 1 << 32, Heads: 1, EncLayers: 1, DecLayers: 1, DFF: 1, MaxLen: 1},
		{Arch: ArchRNNSearch, SrcVocab: 1, TgtVocab: 1, Embed: 1, Hidden: 1 << 40, Layers: 2, AttnDim: 1},
		{Arch: ArchSeq2Seq, SrcVocab: 1, TgtVocab: 1, Embed: math.MaxInt, Hidden: math.MaxInt, Layers: math.MaxInt},
	} {
		if got := c.ParamCount(); got != math.MaxUint64 {
			t.Errorf("%+v: ParamCount %d, want saturation at MaxUint64", c, got)
		}
		if err := c.CheckMemory(BuildBytesPerParam); err == nil {
			t.Errorf("%+v: CheckMemory accepted it", c)
		}
	}
}

// TestValidateRanges: every configuration value out of range is refused
// with a message that names its key.
func TestValidateRanges(t *testing.T) {
	base := Presets["tiny-transformer"]
	base.SrcVocab, base.TgtVocab = 100, 100
	rnn := Presets["g2p-rnnsearch"]
	rnn.SrcVocab, rnn.TgtVocab = 100, 100
	for _, tc := range []struct {
		name string
		c    Config
		f    func(*Config)
		want string
	}{
		{"arch", base, func(c *Config) { c.Arch = "lstm" }, `unknown arch "lstm"`},
		{"long arch", base, func(c *Config) { c.Arch = strings.Repeat("x", 5<<20) }, "unknown arch"},
		{"src_vocab 0", base, func(c *Config) { c.SrcVocab = 0 }, "src_vocab must be positive"},
		{"tgt_vocab huge", base, func(c *Config) { c.TgtVocab = 20_000_000 }, "tgt_vocab 20000000 is above the limit of 10000000"},
		{"d_model 1e9", base, func(c *Config) { c.DModel = 1_000_000_000 }, "d_model 1000000000 is above the limit"},
		{"d_model negative", base, func(c *Config) { c.DModel = -64 }, "d_model must be positive"},
		{"heads 0", base, func(c *Config) { c.Heads = 0 }, "heads must be positive"},
		{"heads > d_model", base, func(c *Config) { c.Heads = 128 }, "heads 128 is more than d_model 64"},
		{"heads do not divide", base, func(c *Config) { c.Heads = 5 }, "d_model 64 is not a multiple of heads 5"},
		{"enc_layers 100", base, func(c *Config) { c.EncLayers = 100 }, "enc_layers 100 is above the limit of 64"},
		{"dec_layers 0", base, func(c *Config) { c.DecLayers = 0 }, "dec_layers must be positive"},
		{"d_ff huge", base, func(c *Config) { c.DFF = 1 << 30 }, "d_ff 1073741824 is above the limit"},
		{"max_len huge", base, func(c *Config) { c.MaxLen = 1 << 20 }, "max_len 1048576 is above the limit of 65536"},
		{"dropout 1", base, func(c *Config) { c.Dropout = 1 }, "dropout must be in [0, 1), got 1"},
		{"dropout NaN", base, func(c *Config) { c.Dropout = float32(math.NaN()) }, "dropout must be in [0, 1), got NaN"},
		{"attn_dropout -0.1", base, func(c *Config) { c.AttnDropout = -0.1 }, "attn_dropout must be in [0, 1)"},
		{"share_emb sizes", base, func(c *Config) { c.ShareEmb, c.TgtVocab = true, 99 }, "share_emb needs one vocabulary"},
		{"unused but negative", base, func(c *Config) { c.Hidden = -1 }, "hidden must not be negative"},
		{"embed 0", rnn, func(c *Config) { c.Embed = 0 }, "embed must be positive for rnnsearch"},
		{"hidden huge", rnn, func(c *Config) { c.Hidden = 1 << 20 }, "hidden 1048576 is above the limit of 65536"},
		{"layers 65", rnn, func(c *Config) { c.Layers = 65 }, "layers 65 is above the limit of 64"},
		{"attn_dim 0", rnn, func(c *Config) { c.AttnDim = 0 }, "attn_dim must be positive"},
	} {
		c := tc.c
		tc.f(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		} else if len(err.Error()) > 200 {
			t.Errorf("%s: error of %d bytes", tc.name, len(err.Error()))
		}
	}
	for _, c := range []Config{base, rnn} {
		if err := c.Validate(); err != nil {
			t.Errorf("valid config refused: %v", err)
		}
	}
}

// withMemory runs f with MemoryLimit reporting limit.
func withMemory(t *testing.T, limit uint64, f func()) {
	t.Helper()
	saved := memoryLimit
	memoryLimit = func() (uint64, string) { return limit, "this machine's memory (MemTotal)" }
	defer func() { memoryLimit = saved }()
	f()
}

// TestHugeModelRefusedBeforeAllocating: d_model 1e9 used to end in "fatal
// error: runtime: out of memory" and a 133-line stack trace. Now New fails
// at once, names the key and allocates nothing; sizes within every bound
// that still do not fit in memory are refused the same way.
func TestHugeModelRefusedBeforeAllocating(t *testing.T) {
	withMemory(t, 24<<30, func() {
		huge := Presets["transformer-base"]
		huge.SrcVocab, huge.TgtVocab = 32000, 32000
		big := huge
		big.DModel, big.DFF, big.MaxLen = MaxWidth, MaxFF, MaxMaxLen
		rnn := Config{Arch: ArchSeq2Seq, SrcVocab: MaxVocab, TgtVocab: MaxVocab, Embed: 4096, Hidden: 4096, Layers: 4}
		huge.DModel = 1_000_000_000
		for _, tc := range []struct {
			c    Config
			want []string
		}{
			{huge, []string{"d_model 1000000000 is above the limit"}},
			{big, []string{"d_model 65536, d_ff 262144, 6+6 layers, vocabularies 32000/32000", "parameters, which need", "TiB to build", "more than this machine's memory (MemTotal) of 24 GiB"}},
			{rnn, []string{"embed 4096, hidden 4096, 4 layers, vocabularies 10000000/10000000", "more than"}},
		} {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := New(tc.c)
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("%+v: built", tc.c)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if took > time.Second {
				t.Errorf("refusing took %v", took)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
				t.Errorf("refusing allocated %d bytes", grew)
			}
		}
	})
}

// TestCheckMemoryTraining: a model that fits to build (8 bytes a
// parameter) may not fit to train with Adam (16); the message says which.
func TestCheckMemoryTraining(t *testing.T) {
	c := Presets["tiny-transformer"]
	c.SrcVocab, c.TgtVocab = 100, 100
	n := c.ParamCount()
	posTable := uint64(4 * c.MaxLen * c.DModel)
	withMemory(t, n*BuildBytesPerParam+posTable, func() {
		if err := c.CheckMemory(BuildBytesPerParam); err != nil {
			t.Errorf("exactly enough memory to build: %v", err)
		}
		err := c.CheckMemory(TrainBytesPerParam)
		if err == nil || !strings.Contains(err.Error(), "to train with Adam (16 bytes each)") {
			t.Errorf("training: %v", err)
		}
	})
	withMemory(t, n*BuildBytesPerParam+posTable-1, func() {
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), "to build (8 bytes each)") {
			t.Errorf("one byte short: %v", err)
		}
	})
}

func TestMemoryLimit(t *testing.T) {
	kb, ok := memTotalKB([]byte("MemFree:  1000 kB\nMemTotal:       24576000 kB\nBuffers: 1 kB\n"))
	if !ok || kb != 24576000 {
		t.Errorf("memTotalKB = %d, %v", kb, ok)
	}
	if _, ok := memTotalKB([]byte("nothing here\n")); ok {
		t.Error("memTotalKB found a total in a file without one")
	}
	limit, source := MemoryLimit()
	if limit < 1<<20 || source == "" {
		t.Errorf("MemoryLimit = %d, %q", limit, source)
	}
	if runtime.GOOS == "linux" && !strings.Contains(source, "MemTotal") && !strings.Contains(source, "cgroup") {
		t.Errorf("on Linux the limit comes from %q", source)
	}
	if got := formatBytes(16 << 60); got != "16 EiB" {
		t.Errorf("formatBytes(16 EiB) = %q", got)
	}
}
