package serve

import (
	"reflect"
	"strings"
	"testing"
)

// TestSchemaListsEveryField: the "unknown field" answer lists every field a
// request takes (max_len_a and max_len_b were missing), and a field of a
// non-integer type is not described as "a whole number" in the answer to a
// wrong type (max_len_a, which takes 1.5, was).
func TestSchemaListsEveryField(t *testing.T) {
	for _, tc := range []struct {
		typ reflect.Type
		sc  schema
	}{{reflect.TypeFor[TranslateRequest](), translateSchema}, {reflect.TypeFor[ExplainRequest](), explainSchema}} {
		listed := map[string]bool{}
		for _, f := range strings.Split(tc.sc.fields, ", ") {
			listed[f] = true
		}
		for i := range tc.typ.NumField() {
			f := tc.typ.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			if !listed[name] {
				t.Errorf("%s: field %s is not in the listed fields %q", tc.typ.Name(), name, tc.sc.fields)
			}
			k := f.Type.Kind()
			if k == reflect.Pointer {
				k = f.Type.Elem().Kind()
			}
			if (k == reflect.Float64 || k == reflect.Float32) && strings.Contains(tc.sc.typeName(name), "whole") {
				t.Errorf("%s: field %s is a number, described as %q", tc.typ.Name(), name, tc.sc.typeName(name))
			}
		}
	}
}
