package main

import (
	"bufio"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/spf13/cobra"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/qkv-dev/qkv/data/cmudict"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/models"
	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/search"
	"github.com/qkv-dev/qkv/text/corpus"
	"github.com/qkv-dev/qkv/text/numwords"
)

// g2pCmd pronounces English words, as Python's g2p_en does: a word the
// CMU Pronouncing Dictionary holds gets its pronunciation from there, any
// other word the most accurate built-in model's.
var g2pCmd = &cobra.Command{
	Use:   "g2p [WORD...]",
	Short: "Pronounce English words (ARPAbet): the CMU dictionary's pronunciation, else the built-in model's",
	Long: `Prints each word with its pronunciation in ARPAbet phones, one word a line:
word<TAB>phones, as in the CMU Pronouncing Dictionary. Words come from the
arguments, or else from standard input (several to a line; punctuation around
a word is dropped, but an abbreviation keeps its point: U.S.).

Text is read as Python's g2p_en reads it: accents are dropped (naïve as
naive), numbers are spelled out (2 → two, 1984 → nineteen eighty four,
1,000 → one thousand, 3.14 → three point one four, 22nd → twenty second),
and a word the dictionary lacks is read by its parts (self-driving as self
driving, R2D2 as r two d two); the line still shows the word as written.

A word the CMU Pronouncing Dictionary holds (built into qkv) gets its first
pronunciation from there, as Python's g2p_en does; any other word is
pronounced by the model (default: the most accurate model built into the
binary, by the test WER on its card; 'qkv g2p --help' shows which, and the
README its accuracy on words it never saw). A built-in ensemble
(builtin:g2p-en-ensemble) decodes with several built-in models at once: the
most accurate, and as many times slower as it has members. --dict=false
asks the model for every word. Phones carry no stress marks (the 39-phone set
of the G2P literature), from the dictionary too, so every line reads alike.

  echo qubit | qkv g2p
  qkv g2p --model my-g2p-run hello world
  qkv g2p --model builtin:g2p-en-rnnsearch qubit    # one model: faster, a little less accurate
  qkv g2p --model builtin:g2p-en-rnnsearch,builtin:g2p-en-seq2seq --beam 8 qubit   # an ensemble of your choosing`,
	RunE: runG2P,
}

var g2pf struct {
	models    modelFlags
	dict      bool
	source    bool
	beam      int
	alpha     float64
	batchSize int
}

func init() {
	f := g2pCmd.Flags()
	f.StringSliceVar(&g2pf.models.models, "model", []string{pipeline.BuiltinPrefix + models.Best()}, "G2P model: builtin:NAME ("+strings.Join(pipeline.Builtins(), ", ")+"), or a model directory from qkv train (letters in, ARPAbet phones out); several (--model A --model B or --model A,B) decode as an ensemble")
	f.StringSliceVar(&g2pf.models.weights, "weights", nil, "weights file of the model (default: best.safetensors, else last.safetensors); with an ensemble, one name for all or one per --model")
	f.BoolVar(&g2pf.dict, "dict", true, "pronounce words the CMU Pronouncing Dictionary holds from there; the model only pronounces the others")
	f.BoolVar(&g2pf.source, "source", false, "add a third column saying where each pronunciation came from: dict, model, or both (dict+model, model+dict: a word read by its parts)")
	f.IntVar(&g2pf.beam, "beam", 4, fmt.Sprintf("beam size: 1 (greedy) to %d (default for a built-in model: the beam chosen for it on validation data)", search.MaxBeam))
	f.Float64Var(&g2pf.alpha, "alpha", 0, "length penalty α (GNMT) (default for a built-in model: the one chosen for it)")
	f.IntVar(&g2pf.batchSize, "batch-size", 64, "words decoded together")
	rootCmd.AddCommand(g2pCmd)
}

func runG2P(cmd *cobra.Command, args []string) error {
	// A shipped model decodes as chosen on validation data (its card),
	// unless told otherwise.
	beam, alpha := g2pf.beam, g2pf.alpha
	members, err := g2pf.models.members()
	if err != nil {
		return fmt.Errorf("g2p: %w", err)
	}
	if card, ok := builtinCard(members); ok {
		if !cmd.Flags().Changed("beam") {
			beam = card.Beam
		}
		if !cmd.Flags().Changed("alpha") {
			alpha = card.Alpha
		}
	}
	opt := pipeline.Options{BatchSize: g2pf.batchSize, Strict: true,
		Search: search.Options{Beam: beam, LengthPenalty: alpha}}
	if err := opt.Check(); err != nil {
		return fmt.Errorf("g2p: %w", err)
	}
	var dict map[string]string
	if g2pf.dict {
		entries, err := cmudict.Entries(corpus.CMUOptions{StripStress: true, Case: corpus.LowerCase})
		if err != nil {
			return fmt.Errorf("g2p: the built-in dictionary: %w", err)
		}
		dict = make(map[string]string, len(entries))
		for _, e := range entries {
			dict[e.Word] = strings.Join(e.Phones[0], " ")
		}
	}
	var p *pipeline.Pipeline // loaded at the first word the dictionary lacks
	loadModel := func() error {
		if p != nil {
			return nil
		}
		var err error
		if p, err = pipeline.LoadEnsemble(members); err != nil {
			return fmt.Errorf("g2p: %w", err)
		}
		return nil
	}
	// The model is loaded lazily, so that words the dictionary holds cost
	// nothing; but a --model or --weights the user named is loaded now, or
	// a typo in it would go unnoticed whenever every word is in the
	// dictionary.
	if cmd.Flags().Changed("model") || cmd.Flags().Changed("weights") {
		if err := loadModel(); err != nil {
			return err
		}
	}

	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	failed := 0
	known := func(w string) bool { _, ok := dict[w]; return ok }
	// pronounce writes one batch of words, in order. A word is pronounced
	// as the parts wordParts reads in it (itself, its numbers spelled out,
	// the words of a compound), each from the dictionary or the model.
	pronounce := func(words []string) error {
		type part struct {
			text, phones, from string
			err                error
		}
		parts := make([][]part, len(words))
		var ask []string
		var at [][2]int
		for i, w := range words {
			for j, t := range wordParts(w, known) {
				pt := part{text: t}
				if ph, ok := dict[t]; ok {
					pt.phones, pt.from = ph, "dict"
				} else {
					ask, at = append(ask, t), append(at, [2]int{i, j})
				}
				parts[i] = append(parts[i], pt)
			}
		}
		if len(ask) > 0 {
			if err := loadModel(); err != nil {
				return err
			}
			for k, r := range p.Translate(ask, opt) {
				pt := &parts[at[k][0]][at[k][1]]
				switch {
				case r.Err != nil:
					pt.err = r.Err
				case len(r.Hyps) == 0 || r.Hyps[0].Text == "":
					pt.err = errors.New("the model gave no pronunciation")
				default:
					pt.phones, pt.from = r.Hyps[0].Text, "model"
				}
			}
		}
		for i, w := range words {
			var phones, from []string
			var err error
			for _, pt := range parts[i] {
				if pt.err != nil {
					err = pt.err
					if len(parts[i]) > 1 {
						err = fmt.Errorf("its part %s: %w", excerpt.Quote(pt.text), pt.err)
					}
					break
				}
				phones = append(phones, pt.phones)
				if !slices.Contains(from, pt.from) {
					from = append(from, pt.from)
				}
			}
			if err != nil {
				failed++
				fmt.Fprintf(cmd.ErrOrStderr(), "qkv g2p: %s: %v\n", excerpt.Quote(w), err)
				continue
			}
			if g2pf.source {
				fmt.Fprintf(out, "%s\t%s\t%s\n", w, strings.Join(phones, " "), strings.Join(from, "+"))
			} else {
				fmt.Fprintf(out, "%s\t%s\n", w, strings.Join(phones, " "))
			}
		}
		return out.Flush()
	}

	if len(args) > 0 {
		var words []string
		for _, a := range args {
			words = append(words, g2pWords(a)...)
		}
		if len(words) == 0 {
			return errors.New("g2p: the arguments hold no word (letters, with ' or - inside)")
		}
		if err := pronounce(words); err != nil {
			return err
		}
	} else {
		sc := bufio.NewScanner(cmd.InOrStdin())
		const maxLine = 1 << 20
		sc.Buffer(make([]byte, 64<<10), maxLine)
		var words []string
		lineNo := 0
		for sc.Scan() {
			lineNo++
			words = append(words, g2pWords(sc.Text())...)
			if len(words) >= g2pf.batchSize {
				if err := pronounce(words); err != nil {
					return err
				}
				words = words[:0]
			}
		}
		if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
			// The words read so far are pronounced, as if the input ended.
			if len(words) > 0 {
				if err := pronounce(words); err != nil {
					return err
				}
			}
			return fmt.Errorf("g2p: standard input: line %d is longer than %d MB: put the words on several lines", lineNo+1, maxLine>>20)
		} else if err != nil {
			return fmt.Errorf("g2p: reading standard input: %w", err)
		}
		if len(words) > 0 {
			if err := pronounce(words); err != nil {
				return err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("g2p: %d word(s) got no pronunciation (above)", failed)
	}
	return nil
}

// wordParts returns the words, lowercase, that pronounce w in order: w
// itself when the dictionary knows it (known) or when it is plain letters;
// else w with its accents dropped (naïve → naive); else its numbers spelled
// out as g2p_en reads them (numwords: 42 → forty two, 1984 → nineteen
// eighty four, 22nd → twenty second) and the runs of letters between the
// other marks (self-driving → self, driving; R2D2 → r, two, d, two). A
// word with nothing to read is itself, for the model to refuse by name.
func wordParts(w string, known func(string) bool) []string {
	lw := strings.ToLower(strings.ReplaceAll(w, "’", "'"))
	if known(lw) {
		return []string{lw}
	}
	f := foldAccents(lw)
	if known(f) || isWord(f) {
		return []string{f}
	}
	if words, ok := numwords.Spell(f); ok {
		return words
	}
	var parts []string
	rs := []rune(f)
	for i := 0; i < len(rs); {
		j := i + 1
		switch {
		case isDigit(rs[i]) || rs[i] == '.' && i+1 < len(rs) && isDigit(rs[i+1]):
			// Digits, with the commas and points between digits, and an
			// ordinal's suffix: one number.
			for j < len(rs) && (isDigit(rs[j]) || (rs[j] == ',' || rs[j] == '.') && j+1 < len(rs) && isDigit(rs[j+1])) {
				j++
			}
			num := string(rs[i:j])
			if j+2 <= len(rs) && (j+2 == len(rs) || !unicode.IsLetter(rs[j+2])) {
				if _, ok := numwords.Spell(num + string(rs[j:j+2])); ok {
					num, j = num+string(rs[j:j+2]), j+2
				}
			}
			if words, ok := numwords.Spell(num); ok {
				parts = append(parts, words...)
			} else {
				parts = append(parts, num) // "1,00": the model says what it cannot read
			}
		case unicode.IsLetter(rs[i]):
			for j < len(rs) && (unicode.IsLetter(rs[j]) || rs[j] == '\'' && j+1 < len(rs) && unicode.IsLetter(rs[j+1])) {
				j++
			}
			parts = append(parts, string(rs[i:j]))
		}
		i = j
	}
	if len(parts) == 0 {
		return []string{lw}
	}
	return parts
}

// foldAccents drops the accents of letters (é → e, ï → i), as g2p_en does
// (Unicode NFD, less the non-spacing marks), and writes the letters that
// have no accent to drop as English spells them (ß → ss, æ → ae).
func foldAccents(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, s)
	if err != nil {
		return s
	}
	return ligatures.Replace(out)
}

var ligatures = strings.NewReplacer("ß", "ss", "æ", "ae", "œ", "oe", "ø", "o", "ł", "l", "đ", "d", "ð", "d", "þ", "th", "ı", "i")

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

// isWord reports whether s is letters, with apostrophes inside.
func isWord(s string) bool {
	rs := []rune(s)
	for i, r := range rs {
		if !unicode.IsLetter(r) && (r != '\'' || i == 0 || i == len(rs)-1) {
			return false
		}
	}
	return len(rs) > 0
}

// g2pWords splits a line into words: runs of anything but white space, with
// the punctuation around them dropped ("Hello," → Hello; "don't" stays).
// A run with no letter or digit at all is no word.
func g2pWords(line string) []string {
	var words []string
	for _, f := range strings.Fields(line) {
		w := strings.TrimFunc(f, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		if w == "" {
			continue
		}
		// An abbreviation keeps its last point (U.S., a.m.), as the
		// dictionary spells it; a word ending a sentence does not.
		if strings.Contains(w, ".") {
			if rest := f[strings.Index(f, w)+len(w):]; strings.HasPrefix(rest, ".") {
				w += "."
			}
		}
		words = append(words, w)
	}
	return words
}
