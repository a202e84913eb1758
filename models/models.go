// Package models embeds the trained models qkv ships, so that they work on
// a fresh machine with no training and no download: `qkv g2p`, or
// `--model builtin:NAME` wherever a model directory is accepted.
//
// Each directory is a model directory as qkv train writes one (config.json,
// src.vocab, tgt.vocab, best.safetensors) with a README.md saying how it was
// made and how accurate it is. They are made by bench/g2p_accuracy.sh ship
// RUN, which chooses every setting on validation data and scores the test
// set once.
//
//   - g2p-en: English letters to ARPAbet phones (no stress marks), a
//     pre-norm Transformer (Vaswani et al. 2017, "Attention Is All You Need") trained
//     on the CMU Pronouncing Dictionary's standard G2P training split,
//     weights stored in bfloat16: g2p-en-prenorm trained on for three legs
//     of 20,000 steps more and three short ones of 10,000 at a low rate,
//     each starting from the last (qkv train --init-from), the last one
//     taught by g2p-en-ensemble (token-level distillation, Sun et al.
//     2019), its end averaged with its start.
//   - g2p-en-prenorm: the same Transformer after its first 20,000 steps,
//     builtin:g2p-en until 2026-12-04, kept as a member of g2p-en-ensemble.
//   - g2p-en-rnnsearch: the same task and data, an RNNsearch (Bahdanau et
//     al. 2014, "Neural Machine Translation by Jointly Learning to Align
//     and Translate"), which learns it faster on a CPU and is the more
//     accurate of the two (see each README.md), weights in bfloat16.
//   - g2p-en-rnnsearch-2, g2p-en-rnnsearch-3: RNNsearch models of the same
//     recipe, trained with other seeds, as ensemble members.
//   - g2p-en-rnnsearch-kd: the same recipe trained on the training split
//     and 80,093 more words pronounced by an ensemble (sequence-level
//     distillation, Kim & Rush 2016), as an ensemble member.
//   - g2p-en-seq2seq: the same task and data, the LSTM encoder-decoder of
//     Sutskever et al. 2014 ("Sequence to Sequence Learning with Neural
//     Networks"), weights in bfloat16. Decoding it together with
//     g2p-en-rnnsearch as an ensemble (--model builtin:g2p-en-rnnsearch
//     --model builtin:g2p-en-seq2seq) is more accurate than either.
//   - g2p-en-ensemble: a built-in ensemble. It holds no weights, only a
//     card.json listing its members (built-in models above, chosen on
//     validation data by bench/g2p_accuracy.sh ship-ensemble) and its
//     decoding; builtin:g2p-en-ensemble decodes with all of them at once.
//
// qkv g2p uses the one of lowest test WER (Best) unless told otherwise.
package models

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
)

// FS holds one directory per model, named as builtin:NAME names it.
//
//go:embed g2p-*
var FS embed.FS

// TestFile is the JSON line of a shipped model's single test scoring (qkv
// eval --by-length: its error rates by word length too), kept beside its
// card so that `qkv plot LABEL=builtin:NAME` draws it. Models shipped
// before 2026-12-05 lack it.
const TestFile = "test.json"

// Card is a shipped model's card.json: how it was chosen and how accurate
// it is, written by bench/g2p_accuracy.sh ship.
type Card struct {
	Beam       int     `json:"beam"`        // the decoding chosen on validation
	Alpha      float64 `json:"alpha"`       // its length penalty
	DType      string  `json:"dtype"`       // how the weights are stored: bf16, f16 or f32
	TestWER    float64 `json:"test_wer"`    // on the test set, scored once, %
	TestPER    float64 `json:"test_per"`    // %
	TestWords  int     `json:"test_words"`  // words in the test set
	TrainedMin float64 `json:"trained_min"` // minutes of training on 2 cores
	Weights    string  `json:"weights"`     // which weights were chosen (best, an average, …)
	// Members makes the directory a built-in ensemble: no weights of its
	// own, it decodes with these built-in models at once (their
	// probabilities averaged at every step). Empty for a single model.
	Members []string `json:"members,omitempty"`
	// MemberWeights is the SHA-256 of each member's weights file as the
	// ensemble was chosen and scored with it: shipping a member anew
	// makes another ensemble, whose card no longer speaks for it.
	MemberWeights map[string]string `json:"member_weights_sha256,omitempty"`
}

// ReadCard returns the card of the model builtin:name.
func ReadCard(name string) (Card, error) { return ReadCardFS(FS, name) }

// ReadCardFS reads the card of the model name in fsys, laid out as FS.
func ReadCardFS(fsys fs.FS, name string) (Card, error) {
	var c Card
	b, err := fs.ReadFile(fsys, name+"/card.json")
	if err != nil {
		return c, fmt.Errorf("builtin:%s: %w", name, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("builtin:%s/card.json: %w", name, err)
	}
	return c, nil
}

// Best returns the name of the built-in model (or built-in ensemble) with
// the lowest test WER on its card: what qkv g2p uses unless told
// otherwise. Models without a readable card are skipped; "g2p-en" is the
// answer when none has one.
func Best() string {
	best, bestWER := "g2p-en", math.Inf(1)
	entries, err := FS.ReadDir(".")
	if err != nil {
		return best
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := ReadCard(e.Name())
		if err != nil || c.TestWER <= 0 {
			continue
		}
		if c.TestWER < bestWER {
			best, bestWER = e.Name(), c.TestWER
		}
	}
	return best
}
