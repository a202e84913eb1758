package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// FuzzRunConfigYAML feeds arbitrary text to the `qkv train --config` reader
// as resolveSettings parses it (yaml.UnmarshalStrict into runConfig, then
// each section that is present and not null into its part of settings): no
// panic; each section that parses is written and parsed again to the same
// values; and the range checks run on what parses, a model error naming
// the model config.
func FuzzRunConfigYAML(f *testing.F) {
	f.Add("arch: transformer\npreset: tiny-transformer\nmodel:\n  d_model: 64\n  heads: 4\ntrain:\n  max_tokens: 2000\n  lr: 2\n  time_budget: 90000000000\n")
	f.Add("data:\n  src_tokenizer: char\n  tgt_tokenizer: word\n  lowercase: true\n  joint_vocab: true\nprepare:\n  min_freq: 2\n")
	f.Add(`{"arch": "seq2seq", "model": {"embed": 8, "hidden": 1000000000}}`)
	f.Add("\ufeffarch: rnnsearch\ndata: null\n")
	f.Add("model: [1, 2]\nunknown: 1\n")
	f.Add("train: &a {epochs: 1}\nprepare: *a\n")
	f.Fuzz(func(t *testing.T, text string) {
		var rc runConfig
		if err := yaml.UnmarshalStrict([]byte(text), &rc); err != nil {
			return
		}
		var s settings
		for _, sec := range []struct {
			raw json.RawMessage
			dst any
		}{{rc.Model, &s.Model}, {rc.Data, &s.Data}, {rc.Prepare, &s.Prepare}, {rc.Train, &s.Train}} {
			if len(sec.raw) == 0 || string(sec.raw) == "null" {
				continue
			}
			if err := yaml.UnmarshalStrict(sec.raw, sec.dst); err != nil {
				continue
			}
			// Written and read again: the same values.
			out, err := yaml.Marshal(sec.dst)
			if err != nil {
				t.Fatalf("cannot write what was read: %v", err)
			}
			again := reflect.New(reflect.TypeOf(sec.dst).Elem())
			if err := yaml.UnmarshalStrict(out, again.Interface()); err != nil {
				t.Fatalf("cannot read what was written: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(again.Elem().Interface(), reflect.ValueOf(sec.dst).Elem().Interface()) {
				t.Fatalf("round trip changed the settings:\n%+v\n%+v", reflect.ValueOf(sec.dst).Elem().Interface(), again.Elem().Interface())
			}
		}
		if err := s.Model.Validate(); err != nil && !strings.HasPrefix(err.Error(), "model config: ") {
			t.Fatalf("model error without the config named: %v", err)
		}
		s.Data.Validate()
		s.Prepare.Validate()
		s.Train.Validate()
	})
}
