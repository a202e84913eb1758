package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/po"
)

// blankEveryOther empties the msgstrs of every other message of a PO file
// (as msgunfmt writes them: no comments), keeping the header.
func blankEveryOther(data []byte) []byte {
	var out []string
	entry, skip := 0, false
	for _, l := range strings.SplitAfter(string(data), "\n") {
		if strings.HasPrefix(l, "msgid ") {
			entry++
		}
		if skip && strings.HasPrefix(l, `"`) {
			continue
		}
		skip = false
		if strings.HasPrefix(l, "msgstr") && entry > 1 && entry%2 == 0 {
			kw, _, _ := strings.Cut(l, " ")
			out = append(out, kw+" \"\"\n")
			skip = true
			continue
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, ""))
}

// TestTranslatePO trains a small BPE model on real catalogues, blanks half
// of the messages of two other real catalogues (one with a plural entry),
// and fills them: only the blanked entries change, they are fuzzy, and
// msgfmt --check accepts the result.
func TestTranslatePO(t *testing.T) {
	dir := t.TempDir()
	var tsv strings.Builder
	for _, name := range []string{"popt.po", "gettext-runtime.po", "pg_test_fsync-15.po"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "po", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		f, err := po.Parse(data, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range f.Entries {
			if !e.HasID || e.IsHeader() || e.HasPlural || strings.ContainsAny(e.ID+e.Str[0], "\t\n") || e.Str[0] == "" {
				continue
			}
			fmt.Fprintf(&tsv, "%s\t%s\n", e.ID, e.Str[0])
		}
	}
	train := filepath.Join(dir, "train.tsv")
	os.WriteFile(train, []byte(tsv.String()), 0o644)
	model := filepath.Join(dir, "model")
	if _, stderr, err := qkv(t, "", "train", "--arch", "transformer", "--preset", "tiny-transformer", "--src-tok", "bpe", "--tgt-tok", "bpe",
		"--bpe-merges", "300", "--train", train, "--out", model, "--max-steps", "60", "--metric", "none", "--max-tokens", "2000",
		"--schedule", "inverse-sqrt", "--lr", "3e-3", "--warmup", "20", "--max-src-len", "200", "--max-tgt-len", "200"); err != nil {
		t.Fatalf("training: %v\n%s", err, stderr)
	}
	if cfg, _ := os.ReadFile(filepath.Join(model, "config.json")); !bytes.Contains(cfg, []byte(`"placeholders": true`)) {
		t.Fatalf("a bpe→bpe model does not protect placeholders by default:\n%s", cfg)
	}
	// qkv eval reports how many outputs keep their placeholders.
	stdout, stderr, err := qkv(t, "", "eval", "--model", model, "--test", train, "--max-len", "80")
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, stderr)
	}
	var ev map[string]float64
	json.Unmarshal([]byte(stdout), &ev) // the non-number fields stay out
	if ev["placeholder_sources"] < 5 || ev["placeholders_kept"] < 0.9 {
		t.Errorf("eval: %s", stdout)
	}
	t.Logf("eval on the training catalogues: %s", strings.TrimSpace(stdout))
	_, msgfmtErr := exec.LookPath("msgfmt")
	if msgfmtErr != nil {
		t.Log("msgfmt (Debian package gettext) is not installed: msgfmt --check is skipped")
	}
	for _, name := range []string{"gettext-runtime.po", "pg_test_fsync-15.po"} {
		orig, err := os.ReadFile(filepath.Join("..", "..", "po", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		in := filepath.Join(dir, "blank-"+name)
		blank := blankEveryOther(orig)
		os.WriteFile(in, blank, 0o644)
		out := filepath.Join(dir, "out-"+name)
		_, stderr, err := qkv(t, "", "translate-po", "--model", model, "--beam", "2", "--max-len", "80", in, "-o", out)
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, stderr)
		}
		t.Logf("%s: %s", name, strings.TrimSpace(stderr))
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if after, _ := os.ReadFile(in); !bytes.Equal(after, blank) {
			t.Fatalf("%s: the input changed", name)
		}
		bf, err := po.Parse(blank, in)
		if err != nil {
			t.Fatal(err)
		}
		of, err := po.Parse(got, out)
		if err != nil {
			t.Fatalf("the output does not parse: %v", err)
		}
		if len(of.Entries) != len(bf.Entries) {
			t.Fatalf("%s: %d entries became %d", name, len(bf.Entries), len(of.Entries))
		}
		filled, plural := 0, 0
		for i, b := range bf.Entries {
			o := of.Entries[i]
			if o.Raw() == b.Raw() {
				continue
			}
			if !b.Untranslated() {
				t.Errorf("%s: entry %q was translated and changed:\n%s\n→\n%s", name, b.ID, b.Raw(), o.Raw())
				continue
			}
			if !o.Fuzzy() || o.Untranslated() || o.ID != b.ID || len(o.Str) != len(b.Str) {
				t.Errorf("%s: filled entry %q: fuzzy %v, msgstrs %q", name, b.ID, o.Fuzzy(), o.Str)
			}
			if o.HasPlural {
				plural++
			}
			filled++
		}
		t.Logf("%s: %d entries filled (%d plural)", name, filled, plural)
		if filled == 0 {
			t.Errorf("%s: nothing was filled", name)
		}
		if msgfmtErr == nil {
			for _, args := range [][]string{{"--check"}, {"--check", "--use-fuzzy"}} {
				if msg, err := exec.Command("msgfmt", append(args, "-o", os.DevNull, out)...).CombinedOutput(); err != nil {
					t.Errorf("%s: msgfmt %v refuses the output: %v\n%s", name, args, err, msg)
				}
			}
		}
		// -o - writes the same to standard output.
		stdout, stderr, err := qkv(t, "", "translate-po", "--model", model, "--beam", "2", "--max-len", "80", in, "-o", "-")
		if err != nil || stdout != string(got) {
			t.Errorf("%s: -o - differs from the file (%v)\n%s", name, err, stderr)
		}
	}
	// The output may not be the input; a malformed file names its line.
	in := filepath.Join(dir, "blank-gettext-runtime.po")
	before, _ := os.ReadFile(in)
	if _, stderr, err := qkv(t, "", "translate-po", "--model", model, in, "-o", in); err == nil || !strings.Contains(stderr, "--output") {
		t.Errorf("-o IN.po was not refused: %v\n%s", err, stderr)
	}
	if after, _ := os.ReadFile(in); !bytes.Equal(before, after) {
		t.Errorf("the input changed")
	}
	bad := filepath.Join(dir, "bad.po")
	os.WriteFile(bad, []byte("msgid \"a\"\nmsgstr \"\"\n\nmsgid \"b\nmsgstr \"\"\n"), 0o644)
	if _, stderr, err := qkv(t, "", "translate-po", "--model", model, bad, "-o", filepath.Join(dir, "bad.out.po")); err == nil || !strings.Contains(stderr, "bad.po:4:") {
		t.Errorf("a malformed file: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.out.po")); err == nil {
		t.Errorf("a malformed input left an output file")
	}
	if stdout, _, err := qkv(t, "", "translate-po", "--help"); err != nil || !strings.Contains(stdout, "fuzzy") || !strings.Contains(stdout, "msgfmt --check") {
		t.Errorf("translate-po --help: %v\n%s", err, stdout)
	}
}
