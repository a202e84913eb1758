package pipeline

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/text/corpus"
)

// TestJointVocabulary: with joint_vocab one vocabulary (and with BPE on
// both sides one set of merges, learned from both) serves both sides, and
// the saved src.vocab and tgt.vocab are the same file.
func TestJointVocabulary(t *testing.T) {
	bi := []corpus.Pair{{Source: "the cat sat", Target: "le chat assis"}, {Source: "the cat", Target: "le chat"}, {Source: "chat room", Target: "salon"}}
	for _, tok := range []string{TokWord, TokBPE} {
		d := DataConfig{SrcTokenizer: tok, TgtTokenizer: tok, MaxSrcLen: 30, MaxTgtLen: 30, JointVocab: true}
		pr, err := Prepare(bi, nil, PrepareOptions{Data: d, BPEMerges: 10})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(pr.Src.Symbols(), pr.Tgt.Symbols()) {
			t.Fatalf("%s: source and target vocabularies differ:\n%v\n%v", tok, pr.Src.Symbols(), pr.Tgt.Symbols())
		}
		if tok == TokWord {
			for _, w := range []string{"cat", "chat", "salon"} {
				if _, ok := pr.Src.ID(w); !ok {
					t.Errorf("joint vocabulary lacks %q", w)
				}
			}
		}
		if tok == TokBPE && (pr.SrcBPE == nil || pr.SrcBPE != pr.TgtBPE) {
			t.Errorf("joint BPE: source merges %p, target merges %p", pr.SrcBPE, pr.TgtBPE)
		}
		dir := t.TempDir()
		if err := pr.Save(dir, model.Config{Arch: model.ArchTransformer, SrcVocab: pr.Src.Len(), TgtVocab: pr.Tgt.Len()}, nil); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(filepath.Join(dir, SrcVocabFile))
		b, _ := os.ReadFile(filepath.Join(dir, TgtVocabFile))
		if len(a) == 0 || string(a) != string(b) {
			t.Errorf("%s: src.vocab and tgt.vocab differ", tok)
		}
		// Without joint_vocab the sides keep their own symbols.
		d.JointVocab = false
		pr, err = Prepare(bi, nil, PrepareOptions{Data: d, BPEMerges: 10})
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(pr.Src.Symbols(), pr.Tgt.Symbols()) {
			t.Errorf("%s: separate vocabularies are the same", tok)
		}
	}
}

// TestDataAndPrepareValidate: each bad value is an error naming its flag
// and config key.
func TestDataAndPrepareValidate(t *testing.T) {
	good := DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokWord, MaxSrcLen: 128, MaxTgtLen: 128}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		set  func(*DataConfig)
		want string
	}{
		{func(d *DataConfig) { d.SrcTokenizer = "spm" }, "--src-tok"},
		{func(d *DataConfig) { d.TgtTokenizer = "" }, "--tgt-tok"},
		{func(d *DataConfig) { d.MaxSrcLen = 0 }, "--max-src-len 0"},
		{func(d *DataConfig) { d.MaxTgtLen = MaxSeqLen + 1 }, "data.max_tgt_len"},
	} {
		d := good
		c.set(&d)
		if err := d.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error naming %q, got %v", c.want, err)
		}
	}
	okPrep := PrepareOptions{MinFreq: 1, BPEMerges: 8000}
	if err := okPrep.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    PrepareOptions
		want string
	}{
		{PrepareOptions{MinFreq: 0, BPEMerges: 1}, "--min-freq 0"},
		{PrepareOptions{MinFreq: 1, BPEMerges: 0}, "--bpe-merges 0"},
		{PrepareOptions{MinFreq: 1, BPEMerges: MaxBPEMerges + 1}, "prepare.bpe_merges"},
		{PrepareOptions{MinFreq: 1, BPEMerges: 1, MaxVocab: 3}, "prepare.max_vocab"},
	} {
		if err := c.o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: want an error naming %q, got %v", c.o, c.want, err)
		}
	}
}

// TestClearRun removes a previous run's files, its writers' temporary
// files and its snapshots, and nothing else.
func TestClearRun(t *testing.T) {
	dir := t.TempDir()
	ours := []string{ConfigFile, SrcVocabFile, TgtVocabFile, SrcBPEFile, TgtBPEFile, BestFile, LastFile, RunFile, AverageFile,
		"step-00000010.safetensors", ".last.safetensors.tmp-123", ".config.json.tmp-9"}
	theirs := []string{"notes.txt", "step-final.safetensors", ".notes.txt.tmp-1", "model.safetensors"}
	for _, n := range append(append([]string{LockFile}, ours...), theirs...) {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	os.Mkdir(filepath.Join(dir, "step-00000020.safetensors"), 0o755) // not a regular file: left alone
	removed, left, err := ClearRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	slices.Sort(ours)
	if !slices.Equal(removed, ours) {
		t.Errorf("removed %v, want %v", removed, ours)
	}
	wantLeft := append(slices.Clone(theirs), "step-00000020.safetensors")
	slices.Sort(wantLeft)
	if !slices.Equal(left, wantLeft) {
		t.Errorf("left %v, want %v", left, wantLeft)
	}
	if _, err := os.Stat(filepath.Join(dir, LockFile)); err != nil {
		t.Errorf("the lock file went: %v", err)
	}
}
