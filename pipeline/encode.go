package pipeline

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/qkv-dev/qkv/text/tokenize"
)

// SourceTokens tokenizes a source line as the model was trained to read it.
func (d DataConfig) SourceTokens(tok tokenize.Tokenizer, line string) []string {
	if d.Lowercase {
		line = strings.ToLower(line)
	}
	return tok.Tokenize(line)
}

// EncodeSource turns a source line into ids. An empty line, invalid UTF-8,
// a symbol the vocabulary lacks, or a line longer than the model accepts is
// an error that says which.
func (p *Pipeline) EncodeSource(line string) ([]int32, error) {
	if !utf8.ValidString(line) {
		return nil, errors.New("invalid UTF-8")
	}
	if strings.TrimSpace(line) == "" {
		return nil, errors.New("empty input")
	}
	toks := p.Config.Data.SourceTokens(p.SrcTok, line)
	if max := p.Config.Data.MaxSrcLen; max > 0 && len(toks) > max {
		return nil, fmt.Errorf("input is %d tokens long; the model takes at most %d", len(toks), max)
	}
	ids, err := p.Src.EncodeStrict(toks)
	if err != nil {
		return nil, fmt.Errorf("%w (the model never saw it in training)", err)
	}
	return toInt32(ids), nil
}

// DecodeTarget turns output ids into text.
func (p *Pipeline) DecodeTarget(ids []int32) (string, []string) {
	toks := p.Tgt.Decode(toInt(ids))
	return p.TgtTok.Detokenize(toks), toks
}
