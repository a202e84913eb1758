package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/model"
	"github.com/qkv-dev/qkv/text/vocab"
)

// Member names one model of an ensemble: a model directory and the
// weights file to load into it ("" for Load's choice: best, else last).
type Member struct {
	Dir, Weights string
}

// LoadEnsemble loads several model directories as one Pipeline that
// decodes with all of them at once (model.Ensemble: the mean of their
// probabilities at every step, as fairseq's ensembles). The models may be
// of any architecture but must read and write text the same way: the same
// source and target symbols in the same order, the same tokenizers and
// BPE merges, the same lowercasing. Otherwise the error names the two
// directories and what differs.
//
// The pipeline's Dir and Config are the first member's, except that the
// longest source accepted (data.max_src_len) is the shortest any member
// accepts, the decoding limit (data.max_tgt_len) the longest any member
// was trained for, and model.max_len the smallest positive one. One member
// is LoadWeights itself.
//
// A member builtin:NAME that is a built-in ensemble (BuiltinMembers)
// stands for its members, each with its shipped weights.
func LoadEnsemble(members []Member) (*Pipeline, error) {
	members, err := expandBuiltinEnsembles(members)
	if err != nil {
		return nil, err
	}
	if len(members) == 0 {
		return nil, errors.New("pipeline: an ensemble needs at least one model")
	}
	if len(members) == 1 {
		return LoadWeights(members[0].Dir, members[0].Weights)
	}
	var ps []*Pipeline
	models := make([]model.Model, len(members))
	for i, m := range members {
		p, err := LoadWeights(m.Dir, m.Weights)
		if err != nil {
			return nil, err
		}
		models[i] = p.Model
		if i > 0 {
			src, tgt, err := sameText(ps[0], p)
			if err != nil {
				return nil, fmt.Errorf("ensemble: the models in %s and %s cannot decode together: %w; "+
					"an ensemble averages the models' predictions symbol by symbol, so every model must know the same symbols (in any order: "+
					"the same vocabularies) and read text the same way (the same --src-tok, --tgt-tok, --lowercase and BPE merges)", ps[0].Dir, p.Dir, err)
			}
			if src != nil || tgt != nil {
				if models[i], err = model.NewReordered(p.Model, orIdentity(src, p.Src.Len()), orIdentity(tgt, p.Tgt.Len())); err != nil {
					return nil, err
				}
			}
		}
		ps = append(ps, p)
	}
	ens, err := model.NewEnsemble(models...)
	if err != nil {
		return nil, err
	}
	out := *ps[0]
	out.Model = ens
	out.Config.Model = ens.Config()
	for _, p := range ps[1:] {
		d := p.Config.Data
		out.Config.Data.MaxSrcLen = min(out.Config.Data.MaxSrcLen, d.MaxSrcLen)
		out.Config.Data.MaxTgtLen = max(out.Config.Data.MaxTgtLen, d.MaxTgtLen)
	}
	return &out, nil
}

// expandBuiltinEnsembles replaces each built-in ensemble among members by
// its members.
func expandBuiltinEnsembles(members []Member) ([]Member, error) {
	var out []Member
	for _, m := range members {
		name, ok := strings.CutPrefix(m.Dir, BuiltinPrefix)
		if !ok {
			out = append(out, m)
			continue
		}
		names, err := BuiltinMembers(name)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			out = append(out, m)
			continue
		}
		if m.Weights != "" {
			return nil, fmt.Errorf("model %s is a built-in ensemble: its members decode with their shipped weights, so --weights %s does not apply", m.Dir, excerpt.Quote(m.Weights))
		}
		for _, n := range names {
			out = append(out, Member{Dir: BuiltinPrefix + n})
		}
	}
	return out, nil
}

// EnsembleSize is the number of models the pipeline decodes with: 1, or
// the members of an ensemble.
func (p *Pipeline) EnsembleSize() int {
	if e, ok := p.Model.(*model.Ensemble); ok {
		return len(e.Members())
	}
	return 1
}

// sameText reports the first way b reads or writes text differently from
// a: vocabularies, tokenizers, BPE merges, lowercasing. When b's
// vocabularies hold a's symbols in another order, src and tgt map a's ids
// to b's (nil where the order is a's too).
func sameText(a, b *Pipeline) (src, tgt []int32, err error) {
	if src, err = vocabOrder(a.Src, b.Src); err != nil {
		return nil, nil, fmt.Errorf("their source vocabularies (%s) differ: %w", SrcVocabFile, err)
	}
	if tgt, err = vocabOrder(a.Tgt, b.Tgt); err != nil {
		return nil, nil, fmt.Errorf("their target vocabularies (%s) differ: %w", TgtVocabFile, err)
	}
	return src, tgt, sameReading(a, b)
}

// vocabOrder maps a's ids to b's when b holds a's symbols in another order;
// it is nil when the order is the same. When the symbols differ, the error
// counts those only one holds and names the first of each side.
func vocabOrder(a, b *vocab.Vocab) ([]int32, error) {
	if sameVocab(a, b) == nil {
		return nil, nil
	}
	order := make([]int32, a.Len())
	onlyA, onlyB := only(a, b), only(b, a)
	for id, s := range a.Symbols() {
		if j, ok := b.ID(s); ok {
			order[id] = int32(j)
		}
	}
	if len(onlyA) == 0 && len(onlyB) == 0 {
		return order, nil
	}
	var sides []string
	for _, o := range []struct {
		ids  []int
		v    *vocab.Vocab
		side string
	}{{onlyA, a, "first"}, {onlyB, b, "second"}} {
		if len(o.ids) > 0 {
			what := fmt.Sprintf("%d symbols only in the %s, such as", len(o.ids), o.side)
			if len(o.ids) == 1 {
				what = "one symbol only in the " + o.side + ":"
			}
			sides = append(sides, fmt.Sprintf("%s %s (id %d)", what, excerpt.Quote(o.v.Symbol(o.ids[0])), o.ids[0]))
		}
	}
	return nil, errors.New(strings.Join(sides, ", "))
}

// only returns the ids of a's symbols that b does not hold.
func only(a, b *vocab.Vocab) []int {
	var ids []int
	for id, s := range a.Symbols() {
		if !b.Has(s) {
			ids = append(ids, id)
		}
	}
	return ids
}

// orIdentity is order, or the identity on n ids when order is nil.
func orIdentity(order []int32, n int) []int32 {
	if order != nil {
		return order
	}
	id := make([]int32, n)
	for i := range id {
		id[i] = int32(i)
	}
	return id
}

// sameReading reports the first way b tokenizes text differently from a:
// tokenizers, BPE merges, lowercasing.
func sameReading(a, b *Pipeline) error {
	da, db := a.Config.Data, b.Config.Data
	if da.SrcTokenizer != db.SrcTokenizer || da.TgtTokenizer != db.TgtTokenizer {
		return fmt.Errorf("their tokenizers differ: %s→%s and %s→%s (data.src_tokenizer→data.tgt_tokenizer)", da.SrcTokenizer, da.TgtTokenizer, db.SrcTokenizer, db.TgtTokenizer)
	}
	if da.Lowercase != db.Lowercase {
		return fmt.Errorf("one lowercases its input and the other does not (data.lowercase %v and %v)", da.Lowercase, db.Lowercase)
	}
	for _, f := range []struct {
		file string
		used bool
	}{{SrcBPEFile, da.SrcTokenizer == TokBPE}, {TgtBPEFile, da.TgtTokenizer == TokBPE}} {
		if !f.used {
			continue
		}
		x, errA := a.readFile(f.file)
		y, errB := b.readFile(f.file)
		if err := errors.Join(errA, errB); err != nil {
			return err
		}
		if !bytes.Equal(x, y) {
			return fmt.Errorf("their BPE merges (%s) differ", f.file)
		}
	}
	return nil
}
