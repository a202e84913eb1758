package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/qkv-dev/qkv/distill"
	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/text/vocab"
)

// MemberNamed reads one model named on the command line of qkv train
// (--teacher, --init-from, --vocab-from): a model directory (its best
// weights, else last), builtin:NAME, or one weights file of a model
// directory (DIR/average.safetensors, a snapshot), which stands for that
// directory with those weights.
func MemberNamed(name string) Member {
	if st, err := os.Stat(name); err == nil && st.Mode().IsRegular() {
		return Member{Dir: filepath.Dir(name), Weights: name}
	}
	return Member{Dir: name}
}

// LoadTeacher loads the models a student run learns from (qkv train
// --teacher), each named as MemberNamed reads it: model directories,
// weights files of model directories, or builtin:NAME, a built-in
// ensemble standing for its members. Each must
// read and write text as the student does: know every symbol of the
// student's vocabularies (in any order: the members' maps say which of
// their ids is the student's; a symbol only the teacher knows is left out
// of its distribution) and use the same tokenizers, BPE merges and
// lowercasing; otherwise the error names the model and what differs.
func LoadTeacher(names []string, student *Pipeline) ([]distill.Member, error) {
	var members []Member
	for _, n := range names {
		members = append(members, MemberNamed(strings.TrimSpace(n)))
	}
	members, err := expandBuiltinEnsembles(members)
	if err != nil {
		return nil, fmt.Errorf("teacher: %w", err)
	}
	var out []distill.Member
	for _, m := range members {
		p, err := LoadWeights(m.Dir, m.Weights)
		if err != nil {
			return nil, fmt.Errorf("teacher: %w", err)
		}
		src, errS := vocabInto(student.Src, p.Src)
		tgt, errT := vocabInto(student.Tgt, p.Tgt)
		err = sameReading(student, p)
		switch {
		case errS != nil:
			err = fmt.Errorf("its source vocabulary (%s) lacks %w", SrcVocabFile, errS)
		case errT != nil:
			err = fmt.Errorf("its target vocabulary (%s) lacks %w", TgtVocabFile, errT)
		}
		if err != nil {
			return nil, fmt.Errorf("teacher: the model in %s cannot teach this run: %w; a teacher's distribution is read symbol by symbol, so it must know every symbol of the student's vocabularies (in any order; symbols only the teacher knows are left out of its distribution) and read text the same way (the same --src-tok, --tgt-tok, --lowercase and BPE merges)", p.Dir, err)
		}
		out = append(out, distill.Member{Model: p.Model, Src: src, Tgt: tgt})
	}
	return out, nil
}

// vocabInto maps each of a's ids to b's id of the same symbol; the error
// counts the symbols of a that b lacks and names the first.
func vocabInto(a, b *vocab.Vocab) ([]int32, error) {
	ids := make([]int32, a.Len())
	var missing []string
	for id, s := range a.Symbols() {
		j, ok := b.ID(s)
		if !ok {
			missing = append(missing, s)
			continue
		}
		ids[id] = int32(j)
	}
	switch len(missing) {
	case 0:
		return ids, nil
	case 1:
		return nil, fmt.Errorf("one symbol of the student's: %s", excerpt.Quote(missing[0]))
	}
	return nil, fmt.Errorf("%d symbols of the student's, such as %s", len(missing), excerpt.Quote(missing[0]))
}
