package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/pipeline"
	"github.com/qkv-dev/qkv/po"
	"github.com/qkv-dev/qkv/text/placeholder"
)

var tpf struct {
	models    modelFlags
	output    string
	onlyEmpty bool
	decode    decodeFlags
}

var translatePOCmd = &cobra.Command{
	Use:   "translate-po --model DIR IN.po -o OUT.po",
	Short: "Fill the untranslated entries of a gettext PO file with a trained model",
	Long: `Translate the untranslated entries of a PO file (gettext's catalogue
format) with a trained English→LL model, mark them "#, fuzzy" for a
translator to review, and write the file with every other byte as it was:
comments, header, translated, fuzzy and obsolete entries, msgctxt, line
wrapping and CRLF line endings.

An entry with msgid_plural gets as many msgstr[N] as the header's
Plural-Forms says (nplurals): msgstr[0] is the translation of msgid and the
others that of msgid_plural (with nplurals=1, msgstr[0] translates
msgid_plural, which it must match). Escapes (\n, \t, \", \\) are decoded
before translating and written back after; new strings are wrapped as
msgcat writes them.

Placeholders (printf directives such as %s and %1$d, {name}, ${var}, markup,
entities, accelerators, line breaks) come out exactly as they went in, in
the source's order, when the model was trained with placeholders (qkv
train --placeholders, the default for translation); leading and trailing
white space is always kept. An entry whose translation would lose or add a
placeholder (or reorder printf directives, or put a line break at either end)
is left untranslated and counted, so msgfmt --check accepts the result.

Example:

  qkv translate-po --model en-de --beam 4 de.po -o de.filled.po
  msgfmt --check -o /dev/null de.filled.po

-o - writes to standard output. OUT.po is written to a temporary file and
renamed into place at the end; it may not be IN.po (or a link to it) nor a
file of the model. A malformed IN.po is an error naming its line.

` + ensembleHelp,
	Args: cobra.ExactArgs(1),
	RunE: runTranslatePO,
}

func init() {
	f := translatePOCmd.Flags()
	tpf.models.register(f)
	f.StringVarP(&tpf.output, "output", "o", "", "output PO file (required; - for standard output)")
	f.BoolVar(&tpf.onlyEmpty, "only-empty", true, "translate only entries whose msgstrs are empty; --only-empty=false also retranslates fuzzy entries")
	tpf.decode.register(f, false, 64)
	translatePOCmd.MarkFlagRequired("output")
	rootCmd.AddCommand(translatePOCmd)
}

// maxPOFile bounds the PO file read into memory.
const maxPOFile = 256 << 20

// poJob is one entry to fill: the sources of its msgstrs.
type poJob struct {
	entry   *po.Entry
	sources []string
}

func runTranslatePO(cmd *cobra.Command, args []string) error {
	in := args[0]
	members, err := tpf.models.members()
	if err != nil {
		return fmt.Errorf("translate-po: %w", err)
	}
	opt, err := tpf.decode.options()
	if err != nil {
		return fmt.Errorf("translate-po: %w", err)
	}
	opt.OrderedPlaceholders = true // c-format without %1$s positions needs the source's order
	toStdout := tpf.output == "-"
	inputs := append([]string{in}, tpf.models.files(members)...)
	if toStdout {
		if err := stdoutIsInput(inputs...); err != nil {
			return fmt.Errorf("translate-po: %w", err)
		}
	} else if err := checkOutputs([][2]string{{"--output", tpf.output}}, inputs...); err != nil {
		return fmt.Errorf("translate-po: %w", err)
	}
	st, err := os.Stat(in)
	if err != nil {
		return fmt.Errorf("translate-po: %w", err)
	}
	if st.Size() > maxPOFile {
		return fmt.Errorf("translate-po: %s is %d MB, more than the %d MB a PO file may be here", in, st.Size()>>20, maxPOFile>>20)
	}
	data, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("translate-po: %w", err)
	}
	f, err := po.Parse(data, in)
	if err != nil {
		return fmt.Errorf("translate-po: %w", err)
	}
	if cs := f.Charset(); cs != "" && !strings.EqualFold(cs, "UTF-8") && !strings.EqualFold(cs, "utf8") {
		return fmt.Errorf("translate-po: %s declares charset %q: qkv writes UTF-8, so convert it first (msgconv --to-code=UTF-8 %s) or set charset=UTF-8 in its header", in, cs, in)
	}
	_, haveNPlurals := f.NPlurals()
	var jobs []poJob
	for _, e := range f.Entries {
		if !e.HasID || e.Obsolete || e.IsHeader() {
			continue
		}
		if !e.Untranslated() && (tpf.onlyEmpty || !e.Fuzzy()) {
			continue
		}
		j := poJob{entry: e, sources: f.Sources(e)}
		jobs = append(jobs, j)
	}
	if len(jobs) > 0 && !haveNPlurals && slices.ContainsFunc(jobs, func(j poJob) bool { return j.entry.HasPlural }) {
		fmt.Fprintf(os.Stderr, "qkv translate-po: %s has no Plural-Forms header; plural entries keep the number of msgstr[N] they have\n", in)
	}
	// Translate each distinct text once, without its leading and trailing
	// white space, which is put back as it was.
	var texts []string
	index := map[string]int{}
	for _, j := range jobs {
		for _, s := range j.sources {
			_, body, _ := cutSpace(s)
			if _, ok := index[body]; !ok && body != "" {
				index[body] = len(texts)
				texts = append(texts, body)
			}
		}
	}
	var p *pipeline.Pipeline
	translated := make([]string, len(texts))
	failed := make([]error, len(texts))
	if len(texts) > 0 {
		if p, err = pipeline.LoadEnsemble(members); err != nil {
			return err
		}
		for i, r := range p.Translate(texts, opt) {
			switch {
			case r.Err != nil:
				failed[i] = r.Err
			case len(r.Hyps) == 0 || strings.TrimSpace(r.Hyps[0].Text) == "":
				failed[i] = errors.New("the model's output is empty")
			default:
				translated[i] = r.Hyps[0].Text
			}
		}
	}
	filled, lost, undecoded := 0, 0, 0
	for _, j := range jobs {
		strs := make([]string, len(j.sources))
		ok := true
		for k, s := range j.sources {
			lead, body, trail := cutSpace(s)
			if body == "" {
				strs[k] = s
				continue
			}
			i := index[body]
			if failed[i] != nil {
				ok = false
				undecoded++
				fmt.Fprintf(os.Stderr, "qkv translate-po: %s:%d: left untranslated: %v\n", in, j.entry.Line, failed[i])
				break
			}
			// Spaces at the ends are the model's; a line break there is a
			// placeholder it placed.
			t := strings.Trim(translated[i], " ")
			// msgfmt --check wants a msgstr to begin and end with a line
			// break exactly when its msgid does: the body has none at its
			// ends, so neither may the translation.
			if !samePlaceholders(body, t) || strings.TrimFunc(t, unicode.IsSpace) != t {
				ok = false
				lost++
				break
			}
			strs[k] = lead + t + trail
		}
		if !ok {
			continue
		}
		if err := f.Fill(j.entry, strs); err != nil {
			return fmt.Errorf("translate-po: %w", err)
		}
		filled++
	}
	fmt.Fprintf(os.Stderr, "qkv translate-po: filled %d of %d entries to translate, marked fuzzy", filled, len(jobs))
	if lost > 0 {
		fmt.Fprintf(os.Stderr, "; %d left untranslated because their translation lost, added or reordered a placeholder, or put a line break at an end", lost)
		if p != nil && !p.Config.Data.Placeholders {
			fmt.Fprintf(os.Stderr, " (the model was trained without --placeholders)")
		}
	}
	if undecoded > 0 {
		fmt.Fprintf(os.Stderr, "; %d got no translation (an empty output, or an input the model cannot take: see above)", undecoded)
	}
	fmt.Fprintln(os.Stderr)
	out := f.Bytes()
	if toStdout {
		if _, err := os.Stdout.Write(out); err != nil {
			return fmt.Errorf("translate-po: writing the output: %w", err)
		}
		return nil
	}
	writing := guardOutputs("translate-po")
	defer writing.stop()
	w, err := writing.create(tpf.output)
	if err != nil {
		return fmt.Errorf("translate-po: --output: %w", err)
	}
	defer w.Abort()
	writing.Lock()
	defer writing.Unlock()
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("translate-po: --output: %w", err)
	}
	if err := w.Commit(); err != nil {
		return fmt.Errorf("translate-po: --output: %w", err)
	}
	return nil
}

// cutSpace cuts s into its leading white space, the rest, and its
// trailing white space.
func cutSpace(s string) (lead, body, trail string) {
	body = strings.TrimLeftFunc(s, unicode.IsSpace)
	lead = s[:len(s)-len(body)]
	trimmed := strings.TrimRightFunc(body, unicode.IsSpace)
	return lead, trimmed, body[len(trimmed):]
}

// samePlaceholders reports whether a translation holds the source's
// placeholders, as many of each, and its printf directives in the same
// order (what msgfmt --check asks of a c-format string without %1$s
// positions).
func samePlaceholders(src, tgt string) bool {
	list := func(s string) (all, printf []string) {
		for _, sp := range placeholder.Find(s) {
			all = append(all, s[sp.Start:sp.End])
			if sp.Kind == placeholder.Printf {
				printf = append(printf, s[sp.Start:sp.End])
			}
		}
		slices.Sort(all)
		return all, printf
	}
	a1, p1 := list(src)
	a2, p2 := list(tgt)
	return slices.Equal(a1, a2) && slices.Equal(p1, p2)
}
