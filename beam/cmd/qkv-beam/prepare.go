package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/spf13/cobra"

	"github.com/qkv-dev/qkv/beam/files"
	"github.com/qkv-dev/qkv/beam/prepare"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/text/corpus"
)

var prepareCmd = &cobra.Command{
	Use:   "prepare gettext|bpe [flags]",
	Short: "Corpus preparation on a Beam runner: gettext corpora, BPE merges",
	Long: `The parts of corpus preparation that grow with the corpus, on Beam workers:

  gettext  read many .mo catalogues into an English→LL corpus split by
           catalogue: the files of "qkv data gettext"
  bpe      count the words of many files and learn BPE merges from the
           sums: the merges of "qkv data bpe"`,
}

var gf struct {
	run                 runFlags
	localeDir, out      string
	langs               []string
	validFrac, testFrac float64
	seed                uint64
	overwrite           bool
}

var gettextCmd = &cobra.Command{
	Use:   "gettext --locale-dir DIR --lang LL [--lang …] --out DIR [flags] [-- BEAM OPTIONS]",
	Short: "Build English→LL corpora from gettext catalogues, as qkv data gettext does",
	Long: `Read every catalogue DIR/LL/LC_MESSAGES/*.mo on Beam workers (each keeps the
entries that make clean pairs) and write OUT/LL/{train,valid,test}.tsv and
OUT/LL/catalogues.json, exactly as "qkv data gettext" does: catalogues in name
order, a msgid kept by the first catalogue that has it, whole catalogues
assigned to the splits in an order shuffled by --seed. Catalogues that cannot
be read are skipped and reported. Prints one JSON line per language. An
existing corpus in OUT is kept (runs trained on it need it to --resume)
unless --overwrite, as qkv data gettext.`,
	Args: cobra.ArbitraryArgs,
	RunE: runGettext,
}

var bf struct {
	run             runFlags
	inputs          []string
	out, counts     string
	merges, minFreq int
	tsv             bool
}

var bpeCmd = &cobra.Command{
	Use:   "bpe --merges N --input GLOB [--input …] --out FILE [flags] [-- BEAM OPTIONS]",
	Short: "Learn BPE merges from word counts summed on Beam workers, as qkv data bpe does",
	Long: `Count the words of every input (each non-empty line, or with --tsv both sides
of each source<TAB>target pair) on Beam workers, sum the counts per word, and
learn up to --merges merges from the sums: the very merges "qkv data bpe"
learns from the same files, written in its format. Learning is one pass on
the summed counts (one line per distinct word), so its cost follows the
vocabulary, not the corpus. --counts keeps the counts (JSON lines).`,
	Args: cobra.ArbitraryArgs,
	RunE: runBPE,
}

func init() {
	f := gettextCmd.Flags()
	gf.run.register(gettextCmd)
	f.StringVar(&gf.localeDir, "locale-dir", "/usr/share/locale", "directory of LL/LC_MESSAGES/*.mo catalogues (local or gs://…)")
	f.StringArrayVar(&gf.langs, "lang", nil, "target language code, exactly as the directory is named (repeatable; required)")
	f.StringVar(&gf.out, "out", "", "output directory (required)")
	f.Float64Var(&gf.validFrac, "valid-frac", 0.05, "share of pairs for validation (whole catalogues)")
	f.Float64Var(&gf.testFrac, "test-frac", 0.05, "share of pairs for test (whole catalogues)")
	f.Uint64Var(&gf.seed, "seed", 1, "seed of the catalogue shuffle")
	f.BoolVar(&gf.overwrite, "overwrite", false, "replace a corpus already in --out")

	b := bpeCmd.Flags()
	bf.run.register(bpeCmd)
	b.StringArrayVar(&bf.inputs, "input", nil, "input files: a path or glob (repeatable; required)")
	b.StringVar(&bf.out, "out", "", "merges file to write (required)")
	b.StringVar(&bf.counts, "counts", "", "also keep the word counts in this file")
	b.IntVar(&bf.merges, "merges", 0, "number of merges to learn (required)")
	b.IntVar(&bf.minFreq, "min-freq", 2, "stop learning when the best pair occurs fewer times")
	b.BoolVar(&bf.tsv, "tsv", false, "lines are source<TAB>target")

	prepareCmd.AddCommand(gettextCmd, bpeCmd)
	rootCmd.AddCommand(prepareCmd)
}

func runGettext(cmd *cobra.Command, args []string) error {
	beamArgs := splitBeamArgs(cmd, args)
	if len(args) > len(beamArgs) {
		return fmt.Errorf("prepare gettext: unexpected argument %s (Beam options go after --)", excerpt.Quote(args[0]))
	}
	if len(gf.langs) == 0 || gf.out == "" {
		return errors.New("prepare gettext: --lang and --out are required")
	}
	ctx := context.Background()
	if !gf.overwrite {
		// As qkv data gettext: an earlier corpus is what runs trained and
		// were scored on; rebuilding it would change it under them.
		for _, lang := range gf.langs {
			for _, name := range corpus.GettextFiles {
				p := files.Join(files.Join(gf.out, lang), name)
				if ok, err := files.Exists(ctx, p); err != nil {
					return fmt.Errorf("prepare gettext: --out: %w", err)
				} else if ok {
					return fmt.Errorf("prepare gettext: %s exists (a corpus built earlier, which runs trained on it need to --resume and to be scored again): choose another --out, or add --overwrite to replace it", p)
				}
			}
		}
	}
	cats, err := prepare.CatalogueFiles(ctx, gf.localeDir, gf.langs)
	if err != nil {
		return fmt.Errorf("prepare gettext: %w", err)
	}
	summaryDir, err := os.MkdirTemp("", "qkv-beam-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(summaryDir)
	summary := summaryDir + "/"
	if !files.IsLocal(gf.out) {
		summary = files.Join(gf.out, ".qkv-beam-summary-") // where remote workers can write it
	}
	p, s := beam.NewPipelineWithRoot()
	if err := prepare.BuildGettext(s, prepare.GettextConfig{Catalogues: cats, Out: gf.out, ValidFrac: gf.validFrac, TestFrac: gf.testFrac, Seed: gf.seed, Summary: summary}); err != nil {
		return fmt.Errorf("prepare gettext: %w", err)
	}
	if err := gf.run.run(ctx, p, beamArgs); err != nil {
		return fmt.Errorf("prepare gettext: %w", err)
	}
	for _, lang := range gf.langs {
		c, err := prepare.ReadGettextCounts(ctx, summary, lang)
		if err != nil {
			return fmt.Errorf("prepare gettext: reading the counts of %s: %w", lang, err)
		}
		for _, w := range c.Warnings {
			fmt.Fprintln(cmd.ErrOrStderr(), "qkv: skipped:", w)
		}
		line, err := prepare.JSONLine(c)
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), line)
	}
	return nil
}

func runBPE(cmd *cobra.Command, args []string) error {
	beamArgs := splitBeamArgs(cmd, args)
	if len(args) > len(beamArgs) {
		return fmt.Errorf("prepare bpe: unexpected argument %s (Beam options go after --)", excerpt.Quote(args[0]))
	}
	if len(bf.inputs) == 0 || bf.out == "" {
		return errors.New("prepare bpe: --input and --out are required")
	}
	if bf.merges <= 0 {
		return errors.New("prepare bpe: --merges must be positive")
	}
	if bf.minFreq < 1 {
		return fmt.Errorf("prepare bpe: --min-freq %d is out of range: a pair must occur at least once (2 is usual)", bf.minFreq)
	}
	ctx := context.Background()
	var inputs []string
	for _, glob := range bf.inputs {
		got, err := files.Expand(ctx, glob)
		if err != nil {
			return fmt.Errorf("prepare bpe: --input: %w", err)
		}
		inputs = append(inputs, got...)
	}
	for _, in := range inputs {
		if files.IsLocal(bf.out) && abs(in) == abs(bf.out) {
			return fmt.Errorf("prepare bpe: --out %s is an input; write it elsewhere", bf.out)
		}
	}
	counts, cleanup, err := statsPath(bf.counts, inputs)
	if err != nil {
		return fmt.Errorf("prepare bpe: %w", err)
	}
	defer cleanup()
	p, s := beam.NewPipelineWithRoot()
	prepare.BuildBPECounts(s, prepare.BPEConfig{Inputs: inputs, TSV: bf.tsv, Counts: counts})
	if err := bf.run.run(ctx, p, beamArgs); err != nil {
		return fmt.Errorf("prepare bpe: %w", err)
	}
	b, err := prepare.LearnBPE(ctx, counts, bf.merges, bf.minFreq)
	if err != nil {
		return fmt.Errorf("prepare bpe: %w", err)
	}
	if err := files.WriteFile(ctx, bf.out, func(w io.Writer) error { return b.Save(w) }); err != nil {
		return fmt.Errorf("prepare bpe: --out: %w", err)
	}
	if len(b.Merges()) < bf.merges {
		fmt.Fprintf(cmd.ErrOrStderr(), "qkv: learned %d merges (no pair left occurring %d times)\n", len(b.Merges()), bf.minFreq)
	}
	return nil
}
