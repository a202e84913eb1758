// Package metrics scores system output against references.
//
//   - BLEU (Papineni et al. 2002, "BLEU: a Method for Automatic Evaluation of
//     Machine Translation") computed exactly as sacreBLEU's default (Post 2018,
//     "A Call for Clarity in Reporting BLEU Scores"): corpus level, 13a
//     tokenization, mixed case, "exp" smoothing, closest reference length.
//   - chrF (Popović 2015, "chrF: character n-gram F-score for automatic MT
//     evaluation") as sacreBLEU's default: character 6-grams, β = 2,
//     whitespace removed, the best reference per segment.
//   - WER and PER as the grapheme-to-phoneme literature reports them (e.g.
//     Yao & Zweig 2015): a sequence is right if it equals any reference, and
//     PER is the edit distance to the closest reference over the length of
//     those references.
//   - ROUGE-1, ROUGE-2 and ROUGE-L (Lin 2004, "ROUGE: A Package for Automatic
//     Evaluation of Summaries") as Google's rouge-score package computes them
//     (its default tokenizer, optional Porter stemmer as NLTK's; the corpus
//     figure is the mean of the segments' F-measures).
//   - Smoothed BLEU-4 as CodeXGLUE's code-to-text evaluator computes it
//     (sentence-level BLEU with add-one smoothing of 2- to 4-grams, Lin & Och
//     2004, "ORANGE"; averaged over segments).
//
// References are given per segment: refs[i] holds every reference of
// segment i (Transpose turns sacreBLEU-style reference streams into this).
package metrics

import "fmt"

// Transpose turns reference streams, streams[k][i] = reference k of segment
// i (one file per reference, as sacreBLEU takes them), into per-segment
// references refs[i][k]. All streams must have the same length.
func Transpose(streams [][]string) ([][]string, error) {
	if len(streams) == 0 {
		return nil, fmt.Errorf("no references")
	}
	n := len(streams[0])
	for k, s := range streams {
		if len(s) != n {
			return nil, fmt.Errorf("reference stream %d has %d segments, stream 0 has %d", k, len(s), n)
		}
	}
	refs := make([][]string, n)
	for i := range refs {
		refs[i] = make([]string, len(streams))
		for k := range streams {
			refs[i][k] = streams[k][i]
		}
	}
	return refs, nil
}

func checkShapes(nHyp int, nRefs int, refCount func(i int) int) error {
	if nHyp != nRefs {
		return fmt.Errorf("%d hypotheses but %d reference sets", nHyp, nRefs)
	}
	for i := 0; i < nRefs; i++ {
		if refCount(i) == 0 {
			return fmt.Errorf("segment %d has no reference", i)
		}
	}
	return nil
}

// presentRefs checks the shapes of hyps and refs and drops empty reference
// strings, which sacreBLEU treats as missing (a segment with fewer
// references than the others). Every segment needs one reference left.
func presentRefs(hyps []string, refs [][]string) ([][]string, error) {
	if len(hyps) != len(refs) {
		return nil, fmt.Errorf("%d hypotheses but %d reference sets", len(hyps), len(refs))
	}
	out := make([][]string, len(refs))
	for i, rs := range refs {
		for _, r := range rs {
			if r != "" {
				out[i] = append(out[i], r)
			}
		}
		if len(out[i]) == 0 {
			return nil, fmt.Errorf("segment %d has no (non-empty) reference", i)
		}
	}
	return out, nil
}
