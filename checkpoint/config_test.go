package checkpoint

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type testConfig struct {
	Arch   string  `json:"arch"`
	DModel int     `json:"d_model"`
	Heads  int     `json:"heads"`
	Drop   float64 `json:"dropout"`
	Vocab  []string
}

func TestJSONRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	want := testConfig{Arch: "transformer", DModel: 256, Heads: 4, Drop: 0.1, Vocab: []string{"<s>", "</s>"}}
	if err := SaveJSON(path, want); err != nil {
		t.Fatal(err)
	}
	var got testConfig
	if err := LoadJSON(path, &got); err != nil {
		t.Fatal(err)
	}
	if got.Arch != want.Arch || got.DModel != want.DModel || got.Heads != want.Heads || got.Drop != want.Drop || strings.Join(got.Vocab, " ") != "<s> </s>" {
		t.Errorf("got %+v, want %+v", got, want)
	}
	b, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(b), "}\n") || !strings.Contains(string(b), "\n  \"d_model\": 256") {
		t.Errorf("file is not indented JSON with a final newline:\n%s", b)
	}
}

func TestJSONErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, text, want string }{
		{"unknown field", `{"arch":"rnnsearch","d_modle":3}`, `unknown field "d_modle"`},
		{"trailing", `{"arch":"x"} {"arch":"y"}`, "data after the JSON value"},
		{"syntax", "{\n  \"arch\": \"x\",\n  \"heads\": ,\n}", ":3:"},
		{"type", `{"heads":"four"}`, "heads"},
	}
	for _, c := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".json")
		if err := os.WriteFile(path, []byte(c.text), 0o644); err != nil {
			t.Fatal(err)
		}
		var cfg testConfig
		err := LoadJSON(path, &cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v, want the path and %q", c.name, err, c.want)
		}
	}
	if err := SaveJSON(filepath.Join(dir, "f.json"), func() {}); err == nil {
		t.Error("saving an unencodable value succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "f.json")); !os.IsNotExist(err) {
		t.Error("a failed SaveJSON left a file")
	}
}

// TestJSONByteOrderMark: a UTF-8 BOM (as Windows editors write) before the
// JSON is dropped, not a syntax error; one anywhere else is still an error.
func TestJSONByteOrderMark(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte("\ufeff{\"arch\": \"rnnsearch\", \"heads\": 4}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var cfg testConfig
	if err := LoadJSON(path, &cfg); err != nil || cfg.Arch != "rnnsearch" || cfg.Heads != 4 {
		t.Fatalf("with a BOM: %+v, %v", cfg, err)
	}
	if err := os.WriteFile(path, []byte("{\"arch\": \"rnnsearch\"}\ufeff"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := LoadJSON(path, &cfg); err == nil {
		t.Error("a BOM after the JSON value was accepted")
	}
}

// TestJSONLongErrorIsShort: an unknown field with a 5 MB name gives an error
// that names the file and quotes only a short prefix of it.
func TestJSONLongErrorIsShort(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	long := strings.Repeat("x", 5<<20)
	for _, text := range []string{`{"` + long + `": 1}`, `{"arch": 1` + long + `}`, `{"arch": "` + long + `", "heads": "four"}`} {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		var cfg testConfig
		err := LoadJSON(path, &cfg)
		if err == nil || !strings.Contains(err.Error(), path) || len(err.Error()) > 400 {
			t.Errorf("error of %d bytes: %.300v", len(fmt.Sprint(err)), err)
		}
	}
}
