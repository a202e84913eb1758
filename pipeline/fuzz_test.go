package pipeline

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/checkpoint"
	"github.com/qkv-dev/qkv/model"
)

// FuzzConfigJSON feeds arbitrary bytes to the config.json reader (as Load
// reads it) and validates what parses: no panic, every error names the file
// and stays short, a parsed config survives being saved and read again,
// and a config that validates has a parameter count and a memory check.
func FuzzConfigJSON(f *testing.F) {
	for _, name := range []string{"tiny-transformer", "g2p-rnnsearch", "g2p-seq2seq"} {
		c := Config{Model: model.Presets[name], Data: DataConfig{SrcTokenizer: TokChar, TgtTokenizer: TokBPE, MaxSrcLen: 64, MaxTgtLen: 64}, Train: json.RawMessage(`{"max_tokens":100}`)}
		c.Model.SrcVocab, c.Model.TgtVocab = 40, 40
		b, _ := json.MarshalIndent(c, "", "  ")
		f.Add(b)
	}
	f.Add([]byte("\ufeff{\"model\":{\"arch\":\"transformer\",\"d_model\":1000000000,\"heads\":1}}"))
	f.Add([]byte(`{"model":{"arch":"seq2seq","dropout":0.5,"src_vocab":-1},"data":{"lowercase":true},"extra":1}`))
	f.Add([]byte(`{"model":{"arch":"transformer","d_model":64,"heads":4,"enc_layers":1,"dec_layers":1,"d_ff":8,"max_len":4,"src_vocab":5,"tgt_vocab":5,"share_emb":true}} `))
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		err := checkpoint.DecodeJSON(data, "config.json", &c)
		if err != nil {
			if !strings.Contains(err.Error(), "config.json") {
				t.Fatalf("error without the file name: %v", err)
			}
			if len(err.Error()) > 400 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		// Saved and read again, the same configuration.
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("cannot write what was read: %v", err)
		}
		var again Config
		if err := checkpoint.DecodeJSON(b, "again.json", &again); err != nil {
			t.Fatalf("cannot read what was written: %v\n%s", err, b)
		}
		if !bytes.Equal(compact(c.Train), compact(again.Train)) {
			t.Fatalf("train settings changed: %s → %s", c.Train, again.Train)
		}
		c.Train, again.Train = nil, nil
		if !reflect.DeepEqual(c, again) {
			t.Fatalf("round trip: %+v → %+v", c, again)
		}
		if err := c.Model.Validate(); err != nil {
			if len(err.Error()) > 600 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if c.Model.ParamCount() == 0 {
			t.Fatalf("a valid model without parameters: %+v", c.Model)
		}
		c.Model.CheckMemory(model.TrainBytesPerParam)
	})
}

func compact(raw json.RawMessage) []byte {
	var b bytes.Buffer
	if len(raw) > 0 && json.Compact(&b, raw) != nil {
		return raw
	}
	return b.Bytes()
}
