package main

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qkv-dev/qkv/text/corpus"
)

// writeMO writes a little-endian .mo catalogue of msgid → msgstr pairs
// (the header first, as msgfmt does; no hash table).
func writeMO(t *testing.T, path string, pairs [][2]string) {
	t.Helper()
	pairs = append([][2]string{{"", "Content-Type: text/plain; charset=UTF-8\n"}}, pairs...)
	n := len(pairs)
	data := make([]byte, 28+16*n)
	le := binary.LittleEndian
	le.PutUint32(data[0:], 0x950412de)
	le.PutUint32(data[8:], uint32(n))
	le.PutUint32(data[12:], 28)
	le.PutUint32(data[16:], uint32(28+8*n))
	for side := 0; side < 2; side++ {
		for i, p := range pairs {
			e := 28 + 8*n*side + 8*i
			le.PutUint32(data[e:], uint32(len(p[side])))
			le.PutUint32(data[e+4:], uint32(len(data)))
			data = append(append(data, p[side]...), 0)
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestDataGettext(t *testing.T) {
	dir := t.TempDir()
	msgs := filepath.Join(dir, "locale", "de", "LC_MESSAGES")
	for c := 0; c < 10; c++ {
		var pairs [][2]string
		for i := 0; i < 10; i++ {
			pairs = append(pairs, [2]string{string(rune('A'+c)) + " message " + string(rune('a'+i)), "Nachricht"})
		}
		writeMO(t, filepath.Join(msgs, string(rune('a'+c))+".mo"), pairs)
	}
	writeMO(t, filepath.Join(dir, "locale", "ko", "LC_MESSAGES", "k.mo"), [][2]string{{"_Open", "열기(_O)"}, {"Line\nbreak", "x"}})
	out, err := runQKV(t, "data", "gettext", "--locale-dir", filepath.Join(dir, "locale"),
		"--lang", "de", "--lang", "ko", "--out", filepath.Join(dir, "out"), "--valid-frac", "0.1", "--test-frac", "0.2", "--seed", "3")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var de, ko gettextCounts
	if len(lines) != 2 || json.Unmarshal([]byte(lines[0]), &de) != nil || json.Unmarshal([]byte(lines[1]), &ko) != nil {
		t.Fatalf("output %q", out)
	}
	if de.Pairs != 100 || de.Train != 70 || de.Valid != 10 || de.Test != 20 || de.Catalogues != 10 {
		t.Errorf("de counts %+v", de)
	}
	if ko.Pairs != 1 || ko.Train != 1 {
		t.Errorf("ko counts %+v", ko)
	}
	b, err := os.ReadFile(filepath.Join(dir, "out", "ko", "train.tsv"))
	if err != nil || string(b) != "_Open\t열기(_O)\n" {
		t.Errorf("ko train.tsv %q %v", b, err)
	}
	if _, err := runQKV(t, "data", "gettext", "--locale-dir", dir, "--lang", "xx", "--out", dir); err == nil {
		t.Error("no error for a missing language")
	}
}

func TestDataBPE(t *testing.T) {
	dir := t.TempDir()
	text := "Die Datei wurde gespeichert.\n파일을  저장했습니다.\n Die Datei wurde nicht gespeichert. \n\n無法保存檔案\n"
	in := writeFile(t, dir, "in.txt", strings.Repeat(text, 3))
	merges := filepath.Join(dir, "m.bpe")
	if _, err := runQKV(t, "data", "bpe", "--merges", "40", "--input", in, "--out", merges); err != nil {
		t.Fatal(err)
	}
	tok := filepath.Join(dir, "tok.txt")
	if _, err := runQKV(t, "data", "bpe", "--apply", merges, "--input", in, "--out", tok); err != nil {
		t.Fatal(err)
	}
	tb, _ := os.ReadFile(tok)
	if !strings.Contains(string(tb), "▁Datei") {
		t.Errorf("tokenized: %q", tb)
	}
	back := filepath.Join(dir, "back.txt")
	if _, err := runQKV(t, "data", "bpe", "--apply", merges, "--decode", "--input", tok, "--out", back); err != nil {
		t.Fatal(err)
	}
	bb, _ := os.ReadFile(back)
	if string(bb) != strings.Repeat(text, 3) {
		t.Errorf("decode(apply(x)) != x:\n%q\n%q", bb, strings.Repeat(text, 3))
	}
	if _, err := runQKV(t, "data", "bpe", "--input", in); err == nil || !strings.Contains(err.Error(), "--merges") {
		t.Errorf("missing --merges: %v", err)
	}
	for _, flag := range []string{"--merges", "--min-freq"} {
		if _, err := runQKV(t, "data", "bpe", "--apply", merges, "--input", in, flag, "10"); err == nil || !strings.Contains(err.Error(), flag+" is for learning merges") {
			t.Errorf("--apply with %s: %v", flag, err)
		}
	}
	if _, err := runQKV(t, "data", "bpe", "--apply", in, "--input", in); err == nil || !strings.Contains(err.Error(), "not a qkv BPE merges file") {
		t.Errorf("bad merges file: %v", err)
	}
}

// TestDataGettextNothingUsable: a language whose every catalogue is corrupt,
// or whose catalogues hold no usable entry, is an error naming it (and the
// number of skipped catalogues), and nothing is written for any language.
func TestDataGettextNothingUsable(t *testing.T) {
	dir := t.TempDir()
	locale := filepath.Join(dir, "locale")
	writeMO(t, filepath.Join(locale, "de", "LC_MESSAGES", "good.mo"), [][2]string{{"Open", "Öffnen"}})
	bad := filepath.Join(locale, "fr", "LC_MESSAGES")
	os.MkdirAll(bad, 0o755)
	for _, name := range []string{"a.mo", "b.mo", "c.mo"} {
		os.WriteFile(filepath.Join(bad, name), []byte("not a catalogue at all"), 0o644)
	}
	writeMO(t, filepath.Join(locale, "it", "LC_MESSAGES", "empty.mo"), [][2]string{{"Line\nbreak", "x"}})
	out := filepath.Join(dir, "out")
	_, err := runQKV(t, "data", "gettext", "--locale-dir", locale, "--lang", "de", "--lang", "fr", "--out", out)
	if err == nil || !strings.Contains(err.Error(), "--lang fr") || !strings.Contains(err.Error(), "3 catalogues were skipped") {
		t.Errorf("every catalogue corrupt: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "de", "train.tsv")); err == nil {
		t.Error("a failed run wrote de's corpus")
	}
	_, err = runQKV(t, "data", "gettext", "--locale-dir", locale, "--lang", "it", "--out", out)
	if err == nil || !strings.Contains(err.Error(), "--lang it") || !strings.Contains(err.Error(), "no usable pairs") {
		t.Errorf("no usable entry: %v", err)
	}
}

func TestDataGodoc(t *testing.T) {
	out := filepath.Join(t.TempDir(), "summ")
	line, err := runQKV(t, "data", "godoc", "--root", "../../text/godoc/testdata/tree", "--out", out, "--valid-frac", "0", "--test-frac", "0")
	if err != nil {
		t.Fatal(err)
	}
	var counts struct{ Pairs, Train, Valid, Test int }
	if err := json.Unmarshal([]byte(line), &counts); err != nil || counts.Pairs != 10 || counts.Train != 10 { // the 9 of TestBuildTestdataTree and Long, under the default limit
		t.Fatalf("%q: %+v %v", line, counts, err)
	}
	pairs, err := corpus.ReadTSVFile(filepath.Join(out, "train.tsv"))
	if err != nil || len(pairs) != 10 {
		t.Fatalf("train.tsv: %d pairs, %v", len(pairs), err)
	}
	for _, name := range []string{"valid.tsv", "test.tsv", "valid.lead.txt", "test.lead.txt", "train.origin.tsv", "packages.json", "stats.json"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A bad root names itself, and nothing is written.
	bad := filepath.Join(t.TempDir(), "nope")
	out2 := filepath.Join(t.TempDir(), "out2")
	_, err = runQKV(t, "data", "godoc", "--root", bad, "--out", out2)
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "does not exist") || !strings.Contains(err.Error(), "nothing was written") {
		t.Errorf("bad --root: %v", err)
	}
	if _, err := os.Stat(out2); !os.IsNotExist(err) {
		t.Errorf("--out was created for a bad --root: %v", err)
	}
}

// TestDataGettextEmptySplitWarned: with too few catalogues for a split's
// share, valid.tsv (or test.tsv) comes out empty, which qkv train --valid
// then refuses: data gettext says so when it writes it.
func TestDataGettextEmptySplitWarned(t *testing.T) {
	dir := t.TempDir()
	msgs := filepath.Join(dir, "locale", "de", "LC_MESSAGES")
	writeMO(t, filepath.Join(msgs, "a.mo"), [][2]string{{"Open", "Öffnen"}, {"Close", "Schließen"}})
	writeMO(t, filepath.Join(msgs, "b.mo"), [][2]string{{"Save", "Speichern"}})
	out := filepath.Join(dir, "out")
	stdout, stderr, err := qkv(t, "", "data", "gettext", "--locale-dir", filepath.Join(dir, "locale"), "--lang", "de", "--out", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	var c gettextCounts
	if json.Unmarshal([]byte(stdout), &c) != nil || c.Valid != 0 {
		t.Fatalf("want an empty validation split from 2 catalogues: %q", stdout)
	}
	if !strings.Contains(stderr, "valid.tsv is empty") {
		t.Errorf("no warning about the empty valid.tsv: %q", stderr)
	}
	if c.Test == 0 != strings.Contains(stderr, "test.tsv is empty") {
		t.Errorf("test split of %d pairs, stderr %q", c.Test, stderr)
	}
}

// TestDataKeepsAnEarlierCorpus: building a corpus where one was built
// before is refused, before any work and with the file named, so runs
// trained on it can still --resume and be scored on the same splits;
// --overwrite replaces it.
func TestDataKeepsAnEarlierCorpus(t *testing.T) {
	dir := t.TempDir()
	locale := filepath.Join(dir, "locale")
	writeMO(t, filepath.Join(locale, "de", "LC_MESSAGES", "a.mo"), [][2]string{{"Open", "Öffnen"}, {"Close", "Schließen"}})
	out := filepath.Join(dir, "corpus")
	args := []string{"data", "gettext", "--locale-dir", locale, "--lang", "de", "--out", out, "--valid-frac", "0", "--test-frac", "0"}
	if _, err := runQKV(t, args...); err != nil {
		t.Fatal(err)
	}
	train := filepath.Join(out, "de", "train.tsv")
	before, err := os.ReadFile(train)
	if err != nil {
		t.Fatal(err)
	}
	// The catalogues change; a second build must not replace the first.
	writeMO(t, filepath.Join(locale, "de", "LC_MESSAGES", "b.mo"), [][2]string{{"Save", "Speichern"}})
	_, err = runQKV(t, args...)
	if err == nil || !strings.Contains(err.Error(), train) || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("second build into the same --out: %v", err)
	}
	if after, _ := os.ReadFile(train); string(after) != string(before) {
		t.Errorf("train.tsv changed: %q → %q", before, after)
	}
	if _, err := runQKV(t, append(args, "--overwrite")...); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(train); !strings.Contains(string(after), "Speichern") {
		t.Errorf("--overwrite did not rebuild: %q", after)
	}

	summ := filepath.Join(dir, "summ")
	gargs := []string{"data", "godoc", "--root", "../../text/godoc/testdata/tree", "--out", summ, "--valid-frac", "0", "--test-frac", "0"}
	if _, err := runQKV(t, gargs...); err != nil {
		t.Fatal(err)
	}
	if _, err := runQKV(t, gargs...); err == nil || !strings.Contains(err.Error(), filepath.Join(summ, "train.tsv")) {
		t.Errorf("second godoc build into the same --out: %v", err)
	}
	if _, err := runQKV(t, append(gargs, "--overwrite")...); err != nil {
		t.Errorf("godoc --overwrite: %v", err)
	}
}
