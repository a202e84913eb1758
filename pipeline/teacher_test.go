package pipeline

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/model"
)

// TestLoadTeacherWeightsFile: a teacher named by one weights file of a
// model directory (an average, a snapshot) teaches with those weights; the
// directory alone with its best weights.
func TestLoadTeacherWeightsFile(t *testing.T) {
	d := DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokChar, MaxSrcLen: 40, MaxTgtLen: 12}
	dir := savedDir(t, rnnsearchTiny, d, pairs)
	student, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	other := rnnsearchTiny
	other.Seed++
	other.SrcVocab, other.TgtVocab = student.Src.Len(), student.Tgt.Len()
	m, err := model.New(other)
	if err != nil {
		t.Fatal(err)
	}
	avg := filepath.Join(dir, "average.safetensors")
	if err := checkpoint.Save(avg, m.Params(), nil); err != nil {
		t.Fatal(err)
	}
	first := func(names ...string) []float32 {
		t.Helper()
		members, err := LoadTeacher(names, student)
		if err != nil {
			t.Fatalf("LoadTeacher(%q): %v", names, err)
		}
		if len(members) != 1 {
			t.Fatalf("LoadTeacher(%q): %d members", names, len(members))
		}
		return members[0].Model.Params()[0].Data
	}
	if got, want := first(dir), student.Model.Params()[0].Data; !slices.Equal(got, want) {
		t.Errorf("the directory taught with other weights than its best")
	}
	if got, want := first(avg), m.Params()[0].Data; !slices.Equal(got, want) {
		t.Errorf("%s taught with other weights than its own", avg)
	}
	if g := MemberNamed(avg); g.Dir != dir || g.Weights != avg {
		t.Errorf("MemberNamed(%s) = %+v", avg, g)
	}
	if g := MemberNamed("builtin:g2p-en"); g.Dir != "builtin:g2p-en" || g.Weights != "" {
		t.Errorf("MemberNamed(builtin:g2p-en) = %+v", g)
	}
}
