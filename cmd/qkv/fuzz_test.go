package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/model"
	"sigs.k8s.io/yaml"
)

// FuzzRunConfigYAML feeds arbitrary text to the `qkv train --config` reader
// exactly as resolveSettings parses it (yaml.UnmarshalStrict into
// runConfig, then its model section into a model.Config): no panic, and a
// file that parses is written and parsed again to the same settings, and
// its model section validates or gives an error naming the config key.
func FuzzRunConfigYAML(f *testing.F) {
	f.Add("arch: transformer\npreset: tiny-transformer\nmodel:\n  d_model: 64\n  heads: 4\ntrain:\n  max_tokens: 2000\n  lr: 2\n  time_budget: 90000000000\n")
	f.Add("data:\n  src_tokenizer: char\n  tgt_tokenizer: word\n  lowercase: true\nprepare:\n  MinFreq: 2\n")
	f.Add(`{"arch": "seq2seq", "model": {"embed": 8, "hidden": 1000000000}}`)
	f.Add("\ufeffarch: rnnsearch\n")
	f.Add("model: [1, 2]\nunknown: 1\n")
	f.Add("train: &a {epochs: 1}\nprepare: *a\n")
	f.Fuzz(func(t *testing.T, text string) {
		var rc runConfig
		if err := yaml.UnmarshalStrict([]byte(text), &rc); err != nil {
			return
		}
		out, err := yaml.Marshal(rc)
		if err != nil {
			t.Fatalf("cannot write what was read: %v", err)
		}
		var again runConfig
		if err := yaml.UnmarshalStrict(out, &again); err != nil {
			t.Fatalf("cannot read what was written: %v\n%s", err, out)
		}
		modelOf := func(rc *runConfig) (model.Config, error) {
			var mc model.Config
			if len(rc.Model) == 0 {
				return mc, nil
			}
			err := yaml.UnmarshalStrict(rc.Model, &mc)
			rc.Model = nil
			return mc, err
		}
		mc, err1 := modelOf(&rc)
		mc2, err2 := modelOf(&again)
		if (err1 == nil) != (err2 == nil) || !reflect.DeepEqual(mc, mc2) || !reflect.DeepEqual(rc, again) {
			t.Fatalf("round trip changed the settings:\n%+v %+v (%v)\n%+v %+v (%v)", rc, mc, err1, again, mc2, err2)
		}
		if err1 != nil {
			return
		}
		if err := mc.Validate(); err != nil && !strings.HasPrefix(err.Error(), "model config: ") {
			t.Fatalf("model error without the config named: %v", err)
		}
	})
}
