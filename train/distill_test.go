package train

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/batch"
	"github.com/qkv-dev/qkv/distill"
	"github.com/qkv-dev/qkv/model"
)

// teacherTargets makes K-symbol targets for each example's positions (its
// target and EOS): the reference with probability 1 and K−1 other symbols
// with 0 when random is nil, else random symbols and probabilities.
func teacherTargets(t *testing.T, ex []batch.Example, k int, random *rand.Rand) *distill.Targets {
	t.Helper()
	ids, p := make([][]int32, len(ex)), make([][]float32, len(ex))
	for i, e := range ex {
		ref := append(slices.Clone(e.Tgt), batch.EOS)
		for _, y := range ref {
			var sum float32
			row := make([]float32, k)
			for n := range k {
				id := int32(4 + (int(y)+n)%8)
				switch {
				case random != nil:
					id, row[n] = int32(random.IntN(12)), random.Float32()+0.01
				case n == 0:
					id, row[n] = y, 1
				}
				ids[i] = append(ids[i], id)
				sum += row[n]
			}
			for n := range row {
				p[i] = append(p[i], row[n]/sum)
			}
		}
	}
	tg, err := distill.NewTargets(k, ids, p)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// A teacher that puts all its mass on the references turns the mixture
// (1 − λ)·[(1 − ε)·onehot + ε/V] + λ·onehot into label smoothing with
// ε' = (1 − λ)·ε: the run's losses are a plain run's with ε', step for step.
// This holds only if every batch row reads its own example's targets.
func TestTeacherOfTheReferencesIsLabelSmoothing(t *testing.T) {
	for _, arch := range []string{model.ArchTransformer, model.ArchRNNSearch} {
		base := Options{MaxTokens: 120, Epochs: 3, Schedule: "noam", Warmup: 10, ValidEvery: 5, Seed: 4}
		plain := base
		plain.LabelSmoothing = 0.1
		want, _ := runTaught(t, arch, t.TempDir(), 12, false, plain, nil)
		taught := base
		taught.LabelSmoothing, taught.Teacher, taught.TeacherWeight, taught.TeacherTopK = 0.2, []string{"the references"}, 0.5, 3
		got, _ := runTaught(t, arch, t.TempDir(), 12, false, taught, teacherTargets(t, copyTask(300, 1), 3, nil))
		if len(got) != len(want) {
			t.Fatalf("%s: %d steps, want %d", arch, len(got), len(want))
		}
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-4*want[i] {
				t.Fatalf("%s: step %d loss %v, label smoothing 0.1 gives %v\n%v\n%v", arch, i+1, got[i], want[i], got, want)
			}
		}
		// A teacher of other symbols changes the run.
		other, _ := runTaught(t, arch, t.TempDir(), 12, false, taught, teacherTargets(t, copyTask(300, 1), 3, rand.New(rand.NewPCG(1, 1))))
		if math.Abs(other[len(other)-1]-want[len(want)-1]) < 1e-3 {
			t.Errorf("%s: a random teacher's run ends at the loss of the references' (%v)", arch, other[len(other)-1])
		}
	}
}

// A run with a teacher stopped and resumed (and given the teacher again)
// takes the uninterrupted run's steps, bit for bit.
func TestResumeWithATeacher(t *testing.T) {
	opts := Options{MaxTokens: 120, Epochs: 5, Schedule: "noam", Warmup: 10, ValidEvery: 4, LabelSmoothing: 0.1, Seed: 2,
		Teacher: []string{"random"}, TeacherWeight: 0.7, TeacherTopK: 3}
	teacher := teacherTargets(t, copyTask(300, 1), 3, rand.New(rand.NewPCG(5, 5)))
	all, _ := runTaught(t, model.ArchTransformer, t.TempDir(), 10, false, opts, teacher)
	split := t.TempDir()
	first, _ := runTaught(t, model.ArchTransformer, split, 4, false, opts, teacher)
	rest, _ := runTaught(t, model.ArchTransformer, split, 10, true, opts, teacher)
	if got := append(first, rest...); !slices.Equal(got, all) {
		t.Fatalf("losses with a resume\n%v\nwithout\n%v", got, all)
	}
}

func TestTeacherRefusals(t *testing.T) {
	opts := Options{MaxTokens: 120, Seed: 1, Teacher: []string{"t"}, TeacherWeight: 0.5, TeacherTopK: 2}
	ex := copyTask(50, 1)
	tr, err := New(newModel(t, model.ArchTransformer), ex, nil, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "SetTeacher") {
		t.Errorf("a run with a teacher but no targets: %v", err)
	}
	if err := tr.SetTeacher(teacherTargets(t, ex, 3, nil)); err == nil || !strings.Contains(err.Error(), "keep 3 symbols") {
		t.Errorf("targets of another K: %v", err)
	}
	if err := tr.SetTeacher(teacherTargets(t, copyTask(50, 7), 2, nil)); err == nil || !strings.Contains(err.Error(), "not for this run's training data") {
		t.Errorf("targets of other examples: %v", err)
	}
	plain, err := New(newModel(t, model.ArchTransformer), ex, nil, t.TempDir(), Options{MaxTokens: 120, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.SetTeacher(teacherTargets(t, ex, 2, nil)); err == nil {
		t.Error("SetTeacher on a run without a teacher was accepted")
	}
	for _, o := range []Options{
		{Teacher: []string{"t"}, TeacherWeight: 1.5, TeacherTopK: 2},
		{Teacher: []string{"t"}, TeacherWeight: 0.5},
		{Teacher: []string{""}, TeacherWeight: 0.5, TeacherTopK: 2},
		{TeacherWeight: 0.5},
	} {
		if _, err := New(newModel(t, model.ArchTransformer), ex, nil, t.TempDir(), o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}
