package corpus

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestByteOrderMark: a UTF-8 BOM at the start of a file (Notepad, Excel)
// used to become part of the first source ("\ufeffabandon") and so a
// vocabulary symbol. Every line reader drops it; one elsewhere is kept.
func TestByteOrderMark(t *testing.T) {
	pairs, err := ReadTSV(strings.NewReader(BOM+"abc\tA B C\r\nx\ty\n"), "f.tsv")
	if err != nil || len(pairs) != 2 || pairs[0].Source != "abc" {
		t.Errorf("TSV: %q, %v", pairs, err)
	}
	pairs, err = ReadTSV(strings.NewReader("abc\tA\n"+BOM+"x\ty\n"), "f.tsv")
	if err != nil || pairs[1].Source != BOM+"x" {
		t.Errorf("TSV, BOM on line 2 (not a file's mark, kept): %q, %v", pairs, err)
	}
	// A first source that really starts with U+FEFF survives a write and a
	// read: the writer adds a mark for the reader to drop.
	var buf strings.Builder
	if err := WriteTSV(&buf, []Pair{{BOM + "x", "y"}, {BOM + "z", "w"}}); err != nil {
		t.Fatal(err)
	}
	if back, err := ReadTSV(strings.NewReader(buf.String()), "g"); err != nil || len(back) != 2 || back[0].Source != BOM+"x" || back[1].Source != BOM+"z" {
		t.Errorf("round trip of a source starting with U+FEFF: %q, %v", back, err)
	}
	// A file that is only a BOM is an empty file.
	if pairs, err := ReadTSV(strings.NewReader(BOM), "f.tsv"); err != nil || len(pairs) != 0 {
		t.Errorf("TSV of a lone BOM: %q, %v", pairs, err)
	}
	for _, text := range []string{BOM + "abandon\tAH0 B AE1 N D AH0 N\n", BOM + "ABANDON  AH0 B AE1 N D AH0 N\n", BOM + ";;; comment\nabandon\tAH0 B\n"} {
		prons, err := ReadCMUdict(strings.NewReader(text), "dict", CMUOptions{})
		if err != nil || len(prons) != 1 || strings.ToLower(prons[0].Word) != "abandon" {
			t.Errorf("CMUdict %q: %+v, %v", text, prons, err)
		}
	}
	msgs, err := ReadPO(strings.NewReader(BOM+"msgid \"a\"\nmsgstr \"b\"\n"), "f.po")
	if err != nil || len(msgs) != 1 || msgs[0].ID != "a" {
		t.Errorf("PO: %+v, %v", msgs, err)
	}
	msgs, err = ReadPO(strings.NewReader(BOM+"# comment\nmsgid \"a\"\nmsgstr \"b\"\n"), "f.po")
	if err != nil || len(msgs) != 1 {
		t.Errorf("PO starting with a comment: %+v, %v", msgs, err)
	}
	// Through the file readers too.
	path := filepath.Join(t.TempDir(), "f.tsv")
	if err := os.WriteFile(path, []byte(BOM+"abc\tdef\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if pairs, err := ReadTSVFile(path); err != nil || pairs[0].Source != "abc" {
		t.Errorf("ReadTSVFile: %q, %v", pairs, err)
	}
}

// TestLongLineErrorsAreShort: an error about a 5 MB line quotes at most a
// short prefix of it (and the file and line), never the whole line.
func TestLongLineErrorsAreShort(t *testing.T) {
	long := strings.Repeat("ab", 5<<19) // 5 MB
	check := func(what string, err error, words ...string) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: no error", what)
			return
		}
		if len(err.Error()) > 300 {
			t.Errorf("%s: error of %d bytes: %.200s…", what, len(err.Error()), err)
		}
		for _, w := range words {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %.300q does not say %q", what, err, w)
			}
		}
	}
	_, err := ReadCMUdict(strings.NewReader("ok\tOW K\n"+long+"  \n"), "dict", CMUOptions{})
	check("cmudict word without phones", err, "dict:2:", "has no phones", "(5242880 bytes)")
	_, err = ReadTSV(strings.NewReader("a\tb\n"+long+"\n"), "f.tsv")
	check("TSV without a tab", err, "f.tsv:2:", "missing tab")
	_, err = ReadTSV(strings.NewReader(long+"\t"+long+"\t\n"), "f.tsv")
	check("TSV with two tabs", err, "f.tsv:1:")
	err = WriteTSV(&strings.Builder{}, []Pair{{long + "\n", long}})
	check("WriteTSV", err, "pair 1", "bytes)")
	for _, tc := range []struct{ name, text, want string }{
		{"keyword", long + "\n", "f.po:1:"},
		{"unknown keyword", long + " \"x\"\n", "unknown keyword"},
		{"unquoted string", "msgid " + long + "\n", "want a double-quoted string"},
		{"plural index", "msgid \"a\"\nmsgid_plural \"as\"\nmsgstr[" + long + "] \"x\"\n", "bad plural index"},
		{"padded plural index", "msgid \"a\"\nmsgstr[" + strings.Repeat("0", 5<<20) + "1] \"x\"\n", "without msgid_plural"},
	} {
		_, err := ReadPO(strings.NewReader(tc.text), "f.po")
		check("PO "+tc.name, err, tc.want)
	}
	_, err = ToUTF8([]Message{{ID: "", Translations: []string{"Content-Type: text/plain; charset=" + long + "\n"}}})
	check("charset", err, "is not supported")
	_, err = ToUTF8([]Message{{ID: "", Translations: []string{"Content-Type: text/plain; charset=euc-kr\n"}}, {ID: "\xff" + long, Translations: []string{"x"}}})
	check("bytes outside the charset", err, "not valid euc-kr")
	_, _, err = LoadGettext(t.TempDir(), long)
	check("language code", err)
	_, _, err = LoadGettext(t.TempDir(), "/"+long)
	check("language code with a slash", err, "bad language code")
	_ = binary.LittleEndian
}

// TestCMUdictRefusesByteOrderMarkInWord: the file's first BOM is dropped; a
// second one (a file saved twice by an editor that adds one) would otherwise
// become an invisible first letter, or a word of its own.
func TestCMUdictRefusesByteOrderMarkInWord(t *testing.T) {
	for _, in := range []string{BOM + BOM + "\tA\n", BOM + BOM + "abc\tA B K\n", "abc\tA B K\nx" + BOM + "y\tZ\n"} {
		_, err := ReadCMUdict(strings.NewReader(in), "dict", CMUOptions{})
		if err == nil || !strings.Contains(err.Error(), "U+FEFF") || !strings.HasPrefix(err.Error(), "dict:") {
			t.Errorf("%q: err = %v, want one naming U+FEFF at its line", in, err)
		}
	}
	prons, err := ReadCMUdict(strings.NewReader(BOM+"abc\tA B K\n"), "dict", CMUOptions{})
	if err != nil || len(prons) != 1 || prons[0].Word != "abc" {
		t.Errorf("one leading BOM: %+v, %v", prons, err)
	}
}
