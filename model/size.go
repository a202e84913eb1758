package model

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
)

// Upper bounds of the configuration values, checked by Validate. They are
// far above any model this toolkit can train on one machine; what memory
// allows is checked separately (CheckMemory), from the parameter count.
const (
	MaxVocab  = 10_000_000 // src_vocab, tgt_vocab
	MaxWidth  = 1 << 16    // d_model, embed, hidden, attn_dim
	MaxFF     = 1 << 18    // d_ff
	MaxLayers = 64         // enc_layers, dec_layers, layers
	MaxMaxLen = 1 << 16    // max_len
)

// Bytes per parameter of the two uses of a model, for CheckMemory.
const (
	// BuildBytesPerParam is what New allocates: every parameter's value
	// and its gradient buffer, float32 each.
	BuildBytesPerParam = 8
	// TrainBytesPerParam adds Adam's two moments: about 4× the weights
	// alone, before any activation.
	TrainBytesPerParam = 16
)

// count is a non-negative integer that saturates instead of overflowing,
// with a float64 shadow that keeps the magnitude for messages.
type count struct {
	n    uint64
	over bool
	f    float64
}

// prod is the product of non-negative factors (negative ones count as 0).
func prod(xs ...int) count {
	c := count{n: 1, f: 1}
	for _, x := range xs {
		x = max(x, 0)
		hi, lo := bits.Mul64(c.n, uint64(x))
		c.n, c.over, c.f = lo, c.over || hi != 0, c.f*float64(x)
	}
	if c.over {
		c.n = math.MaxUint64
	}
	return c
}

// plus returns the sum of c and the terms.
func (c count) plus(terms ...count) count {
	for _, t := range terms {
		sum, carry := bits.Add64(c.n, t.n, 0)
		c.n, c.over, c.f = sum, c.over || t.over || carry != 0, c.f+t.f
		if c.over {
			c.n = math.MaxUint64
		}
	}
	return c
}

// times returns c·k.
func (c count) times(k int) count {
	p := prod(k)
	hi, lo := bits.Mul64(c.n, p.n)
	c.n, c.over, c.f = lo, c.over || hi != 0, c.f*p.f
	if c.over {
		c.n = math.MaxUint64
	}
	return c
}

// ParamCount is the exact number of float32 values in the parameters that
// New(c).Params() holds, computed from the configuration without building
// anything (so it is safe for any sizes: a count too large for uint64 is
// math.MaxUint64).
func (c Config) ParamCount() uint64 { return c.paramCount().n }

func (c Config) paramCount() count {
	linear := func(in, out int) count { return prod(in, out).plus(prod(out)) } // weight and bias
	switch c.Arch {
	case ArchTransformer:
		d := c.DModel
		attn := linear(d, d).times(4)                 // q, k, v, out projections
		ff := linear(d, c.DFF).plus(linear(c.DFF, d)) // linear1, linear2
		norm := prod(2, d)                            // weight and bias
		enc := attn.plus(ff, norm.times(2))           // self, ff, norm1, norm2
		dec := attn.times(2).plus(ff, norm.times(3))  // self, cross, ff, norm1..3
		n := enc.times(c.EncLayers).plus(dec.times(c.DecLayers), prod(c.SrcVocab, d))
		if !c.ShareEmb {
			n = n.plus(prod(c.TgtVocab, d))
		}
		if c.PreNorm || c.FinalNorm {
			n = n.plus(norm.times(2)) // encoder.norm, decoder.norm
		}
		if !c.TieOutput {
			n = n.plus(linear(d, c.TgtVocab))
		}
		if c.Copy {
			n = n.plus(linear(3*d, 1)) // copy gate over [context; state; input]
		}
		return n
	case ArchSeq2Seq, ArchRNNSearch:
		E, H, L := c.Embed, c.Hidden, c.Layers
		lstm := func(in, dirs int) count {
			if L <= 0 {
				return count{}
			}
			cell := func(in int) count { return prod(4, H, in).plus(prod(4, H, H), prod(8, H)) }
			return cell(in).plus(cell(prod(H, dirs).int()).times(L - 1)).times(dirs)
		}
		n := prod(c.SrcVocab, E).plus(prod(c.TgtVocab, E), linear(H, c.TgtVocab))
		if c.Arch == ArchSeq2Seq {
			return n.plus(lstm(E, 1), lstm(E, 1))
		}
		A := c.AttnDim
		if c.Copy {
			n = n.plus(linear(prod(3, H).plus(prod(E)).int(), 1)) // copy gate over [s; c; e]
		}
		return n.plus(
			lstm(E, 2),                         // bidirectional encoder
			linear(H, prod(L, H).int()),        // bridge
			prod(H, A), prod(2, H, A), prod(A), // attention: query_proj, key_proj, v
			lstm(prod(2, H).plus(prod(E)).int(), 1),   // decoder reads [embedding; context]
			linear(prod(3, H).plus(prod(E)).int(), H), // readout [s; c; e]
		)
	}
	return count{}
}

// int converts a count that fits an int (callers have bounded the sizes;
// a count that does not fit gives math.MaxInt, which keeps saturating).
func (c count) int() int {
	if c.over || c.n > math.MaxInt {
		return math.MaxInt
	}
	return int(c.n)
}

// memoryBytes is what building (bytesPerParam) the model takes: its
// parameters and, for a Transformer, its table of positions.
func (c Config) memoryBytes(bytesPerParam int) count {
	n := c.paramCount().times(bytesPerParam)
	if c.Arch == ArchTransformer {
		n = n.plus(prod(4, c.MaxLen, c.DModel))
	}
	return n
}

// CheckMemory refuses, before anything is allocated, a configuration whose
// parameters at bytesPerParam bytes each (BuildBytesPerParam for New,
// TrainBytesPerParam for training with Adam) would not fit in this
// machine's memory (see MemoryLimit). The error names the sizes that make
// the model large.
func (c Config) CheckMemory(bytesPerParam int) error {
	limit, source := MemoryLimit()
	need := c.memoryBytes(bytesPerParam)
	if !need.over && need.n <= limit {
		return nil
	}
	var sizes string
	switch c.Arch {
	case ArchTransformer:
		sizes = fmt.Sprintf("d_model %d, d_ff %d, %d+%d layers, vocabularies %d/%d, max_len %d",
			c.DModel, c.DFF, c.EncLayers, c.DecLayers, c.SrcVocab, c.TgtVocab, c.MaxLen)
	default:
		sizes = fmt.Sprintf("embed %d, hidden %d, %d layers, vocabularies %d/%d", c.Embed, c.Hidden, c.Layers, c.SrcVocab, c.TgtVocab)
		if c.Arch == ArchRNNSearch {
			sizes += fmt.Sprintf(", attn_dim %d", c.AttnDim)
		}
	}
	use := "to build"
	if bytesPerParam >= TrainBytesPerParam {
		use = "to train with Adam"
	}
	return fmt.Errorf("model config: %s give %.2g parameters, which need %s %s (%d bytes each), more than %s of %s: choose smaller sizes",
		sizes, c.paramCount().f, formatBytes(need.f), use, bytesPerParam, source, formatBytes(float64(limit)))
}

// formatBytes writes a byte count with a binary unit: "23.4 GiB", "16 EiB".
func formatBytes(b float64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}
	i := 0
	for b >= 1024 && i < len(units)-1 {
		b /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f bytes", b)
	}
	return fmt.Sprintf("%.3g %s", b, units[i])
}

// fallbackMemory is the limit where the machine's memory cannot be read
// (systems without /proc/meminfo).
const fallbackMemory = 64 << 30

var memoryLimit = sync.OnceValues(readMemoryLimit)

// MemoryLimit returns the memory a model may use on this machine, in
// bytes, and where the figure comes from: MemTotal of /proc/meminfo,
// lowered to the cgroup's memory.max when a container limit is set, or a
// fixed 64 GiB where neither can be read.
func MemoryLimit() (bytes uint64, source string) { return memoryLimit() }

func readMemoryLimit() (uint64, string) {
	total, source := uint64(0), ""
	if runtime.GOOS == "linux" {
		if b, err := os.ReadFile("/proc/meminfo"); err == nil {
			if kb, ok := memTotalKB(b); ok && kb < math.MaxUint64/1024 {
				total, source = kb*1024, "this machine's memory (MemTotal)"
			}
		}
		if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
			if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && (total == 0 || v < total) {
				total, source = v, "this container's memory limit (cgroup memory.max)"
			}
		}
	}
	if total == 0 {
		return fallbackMemory, "the assumed memory of a machine whose memory cannot be read"
	}
	return total, source
}

// memTotalKB parses the "MemTotal:  24576000 kB" line of /proc/meminfo.
func memTotalKB(meminfo []byte) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(meminfo))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			v, err := strconv.ParseUint(f[1], 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}
