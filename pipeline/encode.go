package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/qkv-dev/qkv/internal/excerpt"
	"github.com/qkv-dev/qkv/text/placeholder"
	"github.com/qkv-dev/qkv/text/tokenize"
	"github.com/qkv-dev/qkv/text/vocab"
)

// SourceTokens tokenizes a source line as the model was trained to read it
// (tok is the pipeline's source tokenizer).
func (d DataConfig) SourceTokens(tok tokenize.Tokenizer, line string) []string {
	return tok.Tokenize(d.sourceText(line))
}

// sourceText is a source line as the source tokenizer reads it: protected
// (with Placeholders), then lowercased (with Lowercase).
func (d DataConfig) sourceText(line string) string {
	if d.Placeholders {
		line = placeholder.Protect(line).Text
	}
	if d.Lowercase {
		line = strings.ToLower(line)
	}
	return line
}

// targetText is a training target as the target tokenizer reads it: with
// Placeholders, protected with the numbers of the source's placeholders.
func (d DataConfig) targetText(source, target string) string {
	if !d.Placeholders {
		return target
	}
	_, t := placeholder.ProtectPair(source, target)
	return t.Text
}

// TargetTokens tokenizes the target of a training pair as the model was
// trained on it (tok is the pipeline's target tokenizer).
func (d DataConfig) TargetTokens(tok tokenize.Tokenizer, source, target string) []string {
	return tok.Tokenize(d.targetText(source, target))
}

// wrap keeps placeholder markers whole when Placeholders is on.
func (d DataConfig) wrap(tok tokenize.Tokenizer) tokenize.Tokenizer {
	if !d.Placeholders {
		return tok
	}
	return placeholder.Tokenizer{Inner: tok}
}

// addText counts text for learning BPE merges: with Placeholders, the
// pieces between markers, so no merge ever touches a marker.
func (d DataConfig) addText(tr *tokenize.BPETrainer, text string) {
	if !d.Placeholders {
		tr.Add(text)
		return
	}
	for _, piece := range placeholder.TextPieces(text) {
		tr.Add(piece)
	}
}

// EncodeSource turns a source line into ids. An empty line, invalid UTF-8,
// a symbol the vocabulary lacks, or a line longer than the model accepts is
// an error that says which.
func (p *Pipeline) EncodeSource(line string) ([]int32, error) {
	ids, _, _, _, err := p.encodeSource(line, true, false)
	return ids, err
}

// EncodeSourceUnk is EncodeSource with symbols the vocabulary lacks read as
// <unk>, as most toolkits do; it returns them, in order, so the caller can
// say how many there were.
func (p *Pipeline) EncodeSourceUnk(line string) (ids []int32, unknown []string, err error) {
	ids, _, unknown, _, err = p.encodeSource(line, false, false)
	return ids, unknown, err
}

// encodeSource returns the ids of line, its tokens, the tokens the
// vocabulary lacks (an error when strict), and how many tokens were cut
// from its end: a line longer than the model takes is an error, or with
// truncate is cut to the limit (fairseq's --truncate-source).
func (p *Pipeline) encodeSource(line string, strict, truncate bool) (ids []int32, toks, unknown []string, cut int, err error) {
	if !utf8.ValidString(line) {
		return nil, nil, nil, 0, errors.New("invalid UTF-8")
	}
	if strings.TrimSpace(line) == "" {
		return nil, nil, nil, 0, errors.New("empty input")
	}
	toks = p.Config.Data.SourceTokens(p.SrcTok, line)
	if max := p.Config.Data.MaxSrcLen; max > 0 && len(toks) > max {
		if !truncate {
			return nil, nil, nil, 0, fmt.Errorf("input is %d tokens long; the model takes at most %d", len(toks), max)
		}
		cut, toks = len(toks)-max, toks[:max]
	}
	ids = make([]int32, len(toks))
	for i, t := range toks {
		id, ok := p.Src.ID(t)
		if ok && id != vocab.UNK && id < len(vocab.Specials) {
			ok = false // "<pad>", "<s>" or "</s>" typed in the input is text, not a control symbol
		}
		if !ok {
			if strict {
				return nil, nil, nil, 0, fmt.Errorf("vocab: unknown symbol %s at position %d (the model never saw it in training)", excerpt.Quote(t), i)
			}
			id = vocab.UNK
			unknown = append(unknown, t)
		}
		ids[i] = int32(id)
	}
	return ids, toks, unknown, cut, nil
}

// DecodeTarget turns output ids into text.
func (p *Pipeline) DecodeTarget(ids []int32) (string, []string) {
	toks := p.Tgt.Decode(toInt(ids))
	return p.TgtTok.Detokenize(toks), toks
}
