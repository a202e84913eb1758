package godoc

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/qkv-dev/qkv/internal/atomicfile"
	"github.com/qkv-dev/qkv/text/corpus"
)

// Files of a corpus directory, each split S written as S.tsv (code<TAB>first
// sentence, what qkv train --train/--valid and qkv eval --test read),
// S.origin.tsv (package<TAB>file:line<TAB>name, line for line), and for
// valid and test S.lead.txt (the lead baseline's output, line for line).
const (
	PackagesFile = "packages.json" // the packages of each split
	StatsFile    = "stats.json"    // Counts and Options
)

// FileNames lists the names of the files Write writes into its directory,
// so that a command can refuse to replace an earlier corpus before the
// (long) build.
func FileNames() []string {
	names := []string{}
	for _, split := range []string{"train", "valid", "test"} {
		names = append(names, split+".tsv", split+".origin.tsv")
		if split != "train" {
			names = append(names, split+".lead.txt")
		}
	}
	return append(names, PackagesFile, StatsFile)
}

// Write writes the corpus into dir (created if needed). Every file is
// written to a temporary file and renamed into place, as qkv data gettext
// does, so a failure leaves the previous file of that name whole.
func (c *Corpus) Write(dir string, opt Options) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, part := range []struct {
		name string
		exs  []Example
		lead bool
	}{{"train", c.Train, false}, {"valid", c.Valid, true}, {"test", c.Test, true}} {
		pairs := make([]corpus.Pair, len(part.exs))
		for i, e := range part.exs {
			pairs[i] = corpus.Pair{Source: e.Code, Target: e.Doc}
		}
		if err := corpus.WriteTSVFile(filepath.Join(dir, part.name+".tsv"), pairs); err != nil {
			return fmt.Errorf("%s: %w", part.name, err)
		}
		err := atomicfile.Write(filepath.Join(dir, part.name+".origin.tsv"), func(w io.Writer) error {
			for _, e := range part.exs {
				if _, err := fmt.Fprintf(w, "%s\t%s:%d\t%s\n", e.Package, e.File, e.Line, e.Name); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if !part.lead {
			continue
		}
		err = atomicfile.Write(filepath.Join(dir, part.name+".lead.txt"), func(w io.Writer) error {
			for _, e := range part.exs {
				if _, err := io.WriteString(w, e.Lead()+"\n"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	pk := map[string][]string{"train": nonNil(c.Packages.Train), "valid": nonNil(c.Packages.Valid), "test": nonNil(c.Packages.Test)}
	if err := writeJSON(filepath.Join(dir, PackagesFile), pk); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, StatsFile), struct {
		Counts  Counts  `json:"counts"`
		Options Options `json:"options"`
	}{c.Counts, opt})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func writeJSON(path string, v any) error {
	js, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(js, '\n'))
}
