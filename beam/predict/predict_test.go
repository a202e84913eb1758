package predict

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"

	"github.com/qkv-dev/qkv/beam/decode"
	"github.com/qkv-dev/qkv/beam/internal/testmodel"
)

var qkvBin, modelDir string

func TestMain(m *testing.M) {
	beam.Init()
	dir, err := os.MkdirTemp("", "qkv-beam-predict-test")
	if err != nil {
		panic(err)
	}
	if qkvBin, err = testmodel.Build(dir); err == nil {
		modelDir, err = testmodel.Train(qkvBin, dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// inputs writes files of random words (letters a–f, and now and then a
// letter the model never saw), with bad lines planted: bad[file] lists
// their 0-based indices.
func inputs(t *testing.T, dir string, sizes []int) (paths []string, bad map[string][]int) {
	rng := rand.New(rand.NewPCG(3, 3))
	bad = map[string][]int{}
	for f, n := range sizes {
		var b strings.Builder
		p := filepath.Join(dir, fmt.Sprintf("words-%d.txt", f))
		for i := range n {
			switch {
			case i == 7*(f+1): // empty: cannot be decoded
				bad[p] = append(bad[p], i)
			case i == 11*(f+1): // longer than the model's 256 positions
				b.WriteString(strings.Repeat("ab", 300))
				bad[p] = append(bad[p], i)
			default:
				for range 1 + rng.IntN(12) {
					c := byte('a' + rng.IntN(6))
					if rng.IntN(40) == 0 {
						c = 'z'
					}
					b.WriteByte(c)
				}
			}
			b.WriteByte('\n')
		}
		if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths, bad
}

func run(t *testing.T, c Config) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	if err := Build(s, c); err != nil {
		t.Fatal(err)
	}
	if _, err := prism.Execute(context.Background(), p); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
}

// beam predict on the Prism runner writes, for every input file, exactly
// what qkv predict writes for it, line for line; the lines qkv predict
// cannot decode are the failures file's rows, and the rest complete.
func TestBeamPredictEqualsQkvPredict(t *testing.T) {
	dir := t.TempDir()
	paths, bad := inputs(t, dir, []int{150, 97, 133})
	for _, tc := range []struct {
		name string
		opt  decode.Options
		args []string
	}{
		{"greedy", decode.Options{Beam: 1, BatchSize: 64}, nil},
		{"beam4-nbest2", decode.Options{Beam: 4, NBest: 2, Alpha: 0.6, BatchSize: 16}, []string{"--beam", "4", "--nbest", "2", "--alpha", "0.6", "--batch-size", "16"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name) + "/"
			if err := os.Mkdir(out, 0o755); err != nil {
				t.Fatal(err)
			}
			run(t, Config{Model: decode.Model{Dir: modelDir}, Inputs: paths, Format: FormatText, Output: out, Options: tc.opt, Shards: 3})
			wantFailures := 0
			for _, in := range paths {
				want, stderr, err := testmodel.Run(qkvBin, "", append([]string{"predict", "--threads", "1", "--model", modelDir, "--input", in}, tc.args...)...)
				if err == nil || !strings.Contains(stderr, fmt.Sprintf("line %d:", bad[in][0]+1)) {
					t.Fatalf("qkv predict %s: want exit 1 and failed lines, got %v\n%s", in, err, stderr)
				}
				got, err := os.ReadFile(out + filepath.Base(in))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != want {
					gl, wl := strings.Split(string(got), "\n"), strings.Split(want, "\n")
					for i := range min(len(gl), len(wl)) {
						if gl[i] != wl[i] {
							t.Fatalf("%s: output line %d is %q, qkv predict wrote %q (%d vs %d lines)", in, i+1, gl[i], wl[i], len(gl), len(wl))
						}
					}
					t.Fatalf("%s: %d output lines, qkv predict wrote %d", in, len(gl), len(wl))
				}
				wantFailures += len(bad[in])
			}
			n, first, err := ReadFailures(context.Background(), out+FailuresName)
			if err != nil {
				t.Fatal(err)
			}
			if n != wantFailures {
				t.Errorf("%d failures recorded, want %d", n, wantFailures)
			}
			if wantFirst := paths[0] + "\t8\t"; !strings.HasPrefix(first, wantFirst) {
				t.Errorf("first failure %q, want it to start %q", first, wantFirst)
			}
		})
	}
}

// The model directory is read through Beam's filesystem: one held in
// memfs (as on an object store) decodes as the local one does; an input
// format's source column is what gets decoded.
func TestModelOnAnotherFilesystemAndTSV(t *testing.T) {
	ctx := context.Background()
	fs, err := filesystem.New(ctx, "memfs://")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(modelDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(modelDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := filesystem.Write(ctx, fs, "memfs://model/"+e.Name(), b); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	tsv := filepath.Join(dir, "test.tsv")
	if err := os.WriteFile(tsv, []byte("abc\tAH BH CH\nfed\tFH EH DH\nno-tab-here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, Config{Model: decode.Model{Dir: "memfs://model"}, Inputs: []string{tsv}, Format: FormatTSV, Output: dir + "/out-", Options: decode.Options{Beam: 1, BatchSize: 8}, Shards: 1})
	got, err := os.ReadFile(dir + "/out-test.tsv")
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := testmodel.Run(qkvBin, "abc\nfed\n", "predict", "--threads", "1", "--model", modelDir)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want+"\n" {
		t.Errorf("beam predict on a memfs model wrote %q, want %q and an empty line", got, want)
	}
	n, first, err := ReadFailures(ctx, dir+"/out-"+FailuresName)
	if err != nil || n != 1 || !strings.Contains(first, "\t3\tno tab") {
		t.Errorf("failures: %d, %q, %v; want the line without a tab", n, first, err)
	}
	if _, err := fs.OpenRead(ctx, "memfs://nothing/config.json"); err == nil {
		t.Fatal("memfs invents files")
	}
	p, s := beam.NewPipelineWithRoot()
	if err := Build(s, Config{Model: decode.Model{Dir: "memfs://nothing"}, Inputs: []string{tsv}, Format: FormatTSV, Output: dir + "/none-", Options: decode.Options{Beam: 1, BatchSize: 8}, Shards: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := prism.Execute(ctx, p); err == nil || !strings.Contains(err.Error(), "config.json is missing") {
		t.Errorf("a missing model gave %v, want an error naming config.json", err)
	}
}

// Outputs refuse collisions and inputs.
func TestOutputsRefused(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a", "x.txt"), filepath.Join(dir, "b", "x.txt")
	for _, p := range []string{a, b} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("abc\n"), 0o644)
	}
	if _, _, err := (Config{Inputs: []string{a, b}, Output: dir + "/o-"}).Outputs(); err == nil || !strings.Contains(err.Error(), "would both be written") {
		t.Errorf("two inputs named x.txt: %v", err)
	}
	if _, _, err := (Config{Inputs: []string{a}, Output: filepath.Join(dir, "a") + "/"}).Outputs(); err == nil {
		t.Error("an output that is its input was accepted")
	}
	if _, _, err := (Config{Inputs: []string{a}, Output: dir + "/o-"}).Outputs(); err != nil {
		t.Error(err)
	}
}

// A .po file's msgids are decoded in entry order (the header left out),
// as qkv predict decodes them given one a line.
func TestPOEntries(t *testing.T) {
	dir := t.TempDir()
	po := filepath.Join(dir, "app.po")
	os.WriteFile(po, []byte(`msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"

#: main.c:1
msgid "abc"
msgstr ""

#, fuzzy
msgid "fed"
msgstr "x"

msgid ""
"da"
"ce"
msgstr ""
`), 0o644)
	run(t, Config{Model: decode.Model{Dir: modelDir}, Inputs: []string{po}, Format: FormatPO, Output: dir + "/out-", Options: decode.Options{Beam: 1, BatchSize: 8}, Shards: 2})
	got, err := os.ReadFile(dir + "/out-app.po")
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := testmodel.Run(qkvBin, "abc\nfed\ndace\n", "predict", "--threads", "1", "--model", modelDir)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want || strings.Count(want, "\n") != 3 {
		t.Errorf("beam predict --format po wrote %q, want %q", got, want)
	}
}
