package prepare

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/qkv-dev/qkv/beam/internal/testmodel"
)

var qkvBin string

func TestMain(m *testing.M) {
	beam.Init()
	dir, err := os.MkdirTemp("", "qkv-beam-prepare-test")
	if err != nil {
		panic(err)
	}
	if qkvBin, err = testmodel.Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func execute(t *testing.T, p *beam.Pipeline) {
	t.Helper()
	if _, err := prism.Execute(context.Background(), p); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
}

// Merges learned from word counts summed on Beam workers are qkv data
// bpe's, byte for byte, over several files (text lines, and TSV pairs).
func TestBPECountsEqualQkvDataBPE(t *testing.T) {
	dir := t.TempDir()
	var texts []string
	for _, name := range []string{"GPL-3", "Apache-2.0", "MPL-2.0"} {
		p := filepath.Join("/usr/share/common-licenses", name)
		if _, err := os.Stat(p); err != nil {
			t.Skipf("no %s: Debian's base-files holds these licence texts", p)
		}
		texts = append(texts, p)
	}
	tsv := filepath.Join(dir, "pairs.tsv")
	os.WriteFile(tsv, []byte(testmodel.Corpus(500, 4)+"ünï cödé\tWÖRDS wörds\n"), 0o644)
	for _, tc := range []struct {
		name   string
		inputs []string
		tsv    bool
	}{{"text", texts, false}, {"tsv", []string{tsv}, true}} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"data", "bpe", "--merges", "300", "--out", filepath.Join(dir, tc.name+".want")}
			for _, in := range tc.inputs {
				args = append(args, "--input", in)
			}
			if tc.tsv {
				args = append(args, "--tsv")
			}
			if _, stderr, err := testmodel.Run(qkvBin, "", args...); err != nil {
				t.Fatalf("qkv data bpe: %v\n%s", err, stderr)
			}
			want, _ := os.ReadFile(filepath.Join(dir, tc.name+".want"))
			counts := filepath.Join(dir, tc.name+".counts")
			p, s := beam.NewPipelineWithRoot()
			BuildBPECounts(s, BPEConfig{Inputs: tc.inputs, TSV: tc.tsv, Counts: counts})
			execute(t, p)
			b, err := LearnBPE(context.Background(), counts, 300, 2)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := b.Save(&got); err != nil {
				t.Fatal(err)
			}
			if len(b.Merges()) < 100 || got.String() != string(want) {
				t.Errorf("%d merges; beam's merges differ from qkv data bpe's:\n%.300s\nwant\n%.300s", len(b.Merges()), got.String(), want)
			}
		})
	}
}

// A corpus built from catalogues read on Beam workers is qkv data
// gettext's, file for file, for two languages, with an unreadable
// catalogue skipped and counted by both.
func TestGettextEqualsQkvDataGettext(t *testing.T) {
	dir := t.TempDir()
	locale := filepath.Join(dir, "locale")
	for _, lang := range []string{"de", "fr"} {
		src := filepath.Join("/usr/share/locale", lang, "LC_MESSAGES")
		entries, err := os.ReadDir(src)
		if err != nil || len(entries) < 10 {
			t.Skipf("%s holds too few catalogues (%v): Debian installs them with its packages", src, err)
		}
		dst := filepath.Join(locale, lang, "LC_MESSAGES")
		os.MkdirAll(dst, 0o755)
		n := 0
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".mo") || n == 12 {
				continue
			}
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644)
			n++
		}
		os.WriteFile(filepath.Join(dst, "broken.mo"), []byte("not a catalogue"), 0o644)
	}
	want := filepath.Join(dir, "want")
	stdout, stderr, err := testmodel.Run(qkvBin, "", "data", "gettext", "--locale-dir", locale, "--lang", "de", "--lang", "fr", "--out", want, "--valid-frac", "0.1", "--test-frac", "0.1", "--seed", "3")
	if err != nil {
		t.Fatalf("qkv data gettext: %v\n%s", err, stderr)
	}
	ctx := context.Background()
	cats, err := CatalogueFiles(ctx, locale, []string{"de", "fr"})
	if err != nil {
		t.Fatal(err)
	}
	got := filepath.Join(dir, "got")
	summary := filepath.Join(dir, "summary-")
	p, s := beam.NewPipelineWithRoot()
	if err := BuildGettext(s, GettextConfig{Catalogues: cats, Out: got, ValidFrac: 0.1, TestFrac: 0.1, Seed: 3, Summary: summary}); err != nil {
		t.Fatal(err)
	}
	execute(t, p)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for i, lang := range []string{"de", "fr"} {
		for _, f := range []string{"train.tsv", "valid.tsv", "test.tsv", "catalogues.json"} {
			w, err1 := os.ReadFile(filepath.Join(want, lang, f))
			g, err2 := os.ReadFile(filepath.Join(got, lang, f))
			if err1 != nil || err2 != nil || !bytes.Equal(g, w) {
				t.Errorf("%s/%s: beam wrote %d bytes (%v), qkv data gettext %d (%v)", lang, f, len(g), err2, len(w), err1)
			}
		}
		c, err := ReadGettextCounts(ctx, summary, lang)
		if err != nil {
			t.Fatal(err)
		}
		c.Dir = filepath.Join(want, lang)
		line, _ := JSONLine(c)
		if line != lines[i] {
			t.Errorf("counts %s, qkv data gettext %s", line, lines[i])
		}
		if c.Skipped != 1 || c.Test == 0 || c.Valid == 0 {
			t.Errorf("%s: %+v: want the broken catalogue skipped and every split filled", lang, c)
		}
	}
}
