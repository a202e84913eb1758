package explain

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// LastLayer asks Alignment for the decoder's last layer, fairseq's default
// (its TransformerDecoder takes alignment_layer = num_layers − 1 when none
// is given).
const LastLayer = -1

// Alignment returns the hard word alignment of an output to its source, as
// fairseq's --print-alignment computes it (utils.extract_hard_alignment):
// for each output token j (EOS excluded), the source token i that the
// cross-attention of the given decoder layer, averaged over its heads,
// weighs most (the first on ties). Pairs are (i, j), 0-based, in output
// order. layer is 0-based, or LastLayer. RNNsearch has one additive
// attention (layer 0). A model without attention, or maps recorded
// without it, is an error.
func Alignment(a *Attention, layer int) ([][2]int, error) {
	layers, heads := a.Layers(Cross)
	if layers == 0 {
		return nil, errors.New("no cross-attention to align with: the model has no attention over its source (seq2seq), or the output was decoded without attention")
	}
	if layer == LastLayer {
		layer = layers - 1
	}
	if layer < 0 || layer >= layers {
		return nil, fmt.Errorf("--alignment-layer %d is out of range: the decoder has %d cross-attention layers (0 to %d; default: the last)", layer, layers, layers-1)
	}
	n := len(a.Source)
	pairs := make([][2]int, 0, len(a.Output))
	avg := make([]float64, n)
	for j := range a.Output {
		clear(avg)
		for h := 0; h < heads; h++ {
			m := a.Map(Cross, layer, h)
			if m == nil || j >= len(m.Weights) || len(m.Weights[j]) != n {
				return nil, fmt.Errorf("explain: cross-attention of layer %d head %d has no row for output token %d", layer, h, j)
			}
			for i, w := range m.Weights[j] {
				avg[i] += float64(w)
			}
		}
		best := 0
		for i := 1; i < n; i++ {
			if avg[i] > avg[best] {
				best = i
			}
		}
		if n > 0 {
			pairs = append(pairs, [2]int{best, j})
		}
	}
	return pairs, nil
}

// Pharaoh writes pairs as "i-j i-j …" (source-target, 0-based): the
// format of fast_align, Moses and fairseq.
func Pharaoh(pairs [][2]int) string {
	var b strings.Builder
	for k, p := range pairs {
		if k > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(p[0]))
		b.WriteByte('-')
		b.WriteString(strconv.Itoa(p[1]))
	}
	return b.String()
}
