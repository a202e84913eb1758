package corpus

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// writeMO builds a .mo file in byte order bo (msgfmt's layout: header,
// original table, translation table, no hash table, then the strings,
// each followed by NUL).
func writeMO(bo binary.ByteOrder, msgs []Message) []byte {
	type kv struct{ k, v string }
	var entries []kv
	for _, m := range msgs {
		k := m.ID
		if m.Plural != "" {
			k += pluralSep + m.Plural
		}
		if m.Context != "" {
			k = m.Context + ctxtSep + k
		}
		entries = append(entries, kv{k, strings.Join(m.Translations, pluralSep)})
	}
	slices.SortFunc(entries, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	n := len(entries)
	origTab, transTab := 28, 28+8*n
	data := make([]byte, 28+16*n)
	bo.PutUint32(data[0:], moMagic)
	bo.PutUint32(data[8:], uint32(n))
	bo.PutUint32(data[12:], uint32(origTab))
	bo.PutUint32(data[16:], uint32(transTab))
	bo.PutUint32(data[24:], uint32(28+16*n)) // hash table offset, size 0
	put := func(tab, i int, s string) {
		bo.PutUint32(data[tab+8*i:], uint32(len(s)))
		bo.PutUint32(data[tab+8*i+4:], uint32(len(data)))
		data = append(data, s...)
		data = append(data, 0)
	}
	for i, e := range entries {
		put(origTab, i, e.k)
	}
	for i, e := range entries {
		put(transTab, i, e.v)
	}
	return data
}

var sampleMsgs = []Message{
	{ID: "", Translations: []string{"Content-Type: text/plain; charset=UTF-8\n"}},
	{ID: "%d file", Plural: "%d files", Translations: []string{"%d Datei", "%d Dateien"}},
	{ID: "&Open", Translations: []string{"Ö&ffnen"}},
	{ID: "Cannot open %1$s: %2$s", Translations: []string{"%1$s kann nicht geöffnet werden: %2$s"}},
	{ID: "Open", Context: "verb", Translations: []string{"Öffnen"}},
	{ID: "Save _As…", Translations: []string{"Speichern _unter …"}},
	{ID: "Untranslated", Translations: []string{""}},
	{ID: "Usage:\n", Translations: []string{"Aufruf:\n"}},
	{ID: "Tab\there", Translations: []string{"Tab\thier"}},
	{ID: "{0} items selected", Translations: []string{"{0}개의 항목이 선택됨"}},
}

func TestReadMOBothByteOrders(t *testing.T) {
	for _, bo := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
		got, err := ReadMO(writeMO(bo, sampleMsgs), "x.mo")
		if err != nil {
			t.Fatalf("%v: %v", bo, err)
		}
		want := slices.Clone(sampleMsgs)
		key := func(m Message) string { return m.Context + ctxtSep + m.ID }
		slices.SortFunc(want, func(a, b Message) int { return strings.Compare(key(a), key(b)) })
		slices.SortFunc(got, func(a, b Message) int { return strings.Compare(key(a), key(b)) })
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%v:\ngot  %+v\nwant %+v", bo, got, want)
		}
	}
}

func TestReadMOErrors(t *testing.T) {
	good := writeMO(binary.LittleEndian, sampleMsgs[:3])
	corrupt := func(off int, v uint32) []byte {
		b := slices.Clone(good)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	for _, c := range []struct {
		data []byte
		want string
	}{
		{good[:10], "too short"},
		{append([]byte("GNU!"), good[4:]...), "not a .mo file"},
		{corrupt(4, 2<<16), "major revision 2"},
		{corrupt(8, 1<<30), "original string table (1073741824 entries"},
		{corrupt(16, uint32(len(good)-4)), "translation string table"},
		{corrupt(28+8, 1000), "original string 1 (1000 bytes"},
		{corrupt(28+4, 0xffffffff), "original string 0"},
		{good[:len(good)-5], "translation string 2"},
	} {
		_, err := ReadMO(c.data, "x.mo")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "x.mo: ") {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}

const samplePO = `# German translation.
msgid ""
msgstr ""
"Content-Type: text/plain; charset=UTF-8\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"

#: src/main.c:10
#, c-format
msgid "%d file"
msgid_plural "%d files"
msgstr[0] "%d Datei"
msgstr[1] "%d "
"Dateien"

#, fuzzy, c-format
msgid "Quit"
msgstr "Beenden"

msgctxt "verb"
msgid "Open"
msgstr "Öffnen"

msgid ""
"A long "
"message with \"quotes\", a tab\there, \\ and \101\x42."
msgstr "Eine lange Nachricht"

#~ msgid "Obsolete"
#~ msgstr "Veraltet"
msgid "_File"
msgstr "_Datei"
`

func TestReadPO(t *testing.T) {
	got, err := ReadPO(strings.NewReader(samplePO), "de.po")
	if err != nil {
		t.Fatal(err)
	}
	want := []Message{
		{ID: "", Translations: []string{"Content-Type: text/plain; charset=UTF-8\nPlural-Forms: nplurals=2; plural=(n != 1);\n"}},
		{ID: "%d file", Plural: "%d files", Translations: []string{"%d Datei", "%d Dateien"}},
		{ID: "Quit", Translations: []string{"Beenden"}, Fuzzy: true},
		{ID: "Open", Context: "verb", Translations: []string{"Öffnen"}},
		{ID: "A long message with \"quotes\", a tab\there, \\ and AB.", Translations: []string{"Eine lange Nachricht"}},
		{ID: "_File", Translations: []string{"_Datei"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	pairs := GettextPairs(got)
	if !reflect.DeepEqual(pairs, []Pair{{"_File", "_Datei"}}) {
		t.Fatalf("pairs %q", pairs) // the long one holds a tab; Quit is fuzzy
	}
}

func TestReadPOErrors(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"msgid \"a\"\n\nmsgid \"b\"\nmsgstr \"\"\n", "p.po:1: msgid without msgstr"},
		{"msgid \"a\"\nmsgstr \"b\n", "p.po:2: msgstr: want a double-quoted string"},
		{"\"orphan\"\n", "p.po:1: string continuation outside an entry"},
		{"msgid \"a\"\nmsgstr[0] \"b\"\n", "p.po:2: msgstr[0] without msgid_plural"},
		{"msgid \"a\"\nmsgid_plural \"as\"\nmsgstr[1] \"b\"\n", "p.po:1: plural forms are not numbered"},
		{"msgid \"a\\q\"\nmsgstr \"\"\n", `p.po:1: msgid: unknown escape \q`},
		{"msgid \"a\"\nmsgstr \"\"\nfoo \"x\"\n", `p.po:3: unknown keyword "foo"`},
		{"msgid \"a\\\"\nmsgstr \"\"\n", "p.po:1: msgid: string ends in a lone backslash"},
		{"msgid \"a\"b\"\nmsgstr \"\"\n", "unescaped quote"},
	} {
		_, err := ReadPO(strings.NewReader(c.in), "p.po")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.in, err, c.want)
		}
	}
}

// If msgfmt is installed, the .po reader and the .mo reader agree on the
// catalogue msgfmt compiles (fuzzy entries are left out of .mo files).
func TestPOAgreesWithMsgfmt(t *testing.T) {
	msgfmt, err := exec.LookPath("msgfmt")
	if err != nil {
		t.Skip("msgfmt not installed")
	}
	dir := t.TempDir()
	po := filepath.Join(dir, "de.po")
	os.WriteFile(po, []byte(samplePO), 0o644)
	mo := filepath.Join(dir, "de.mo")
	if out, err := exec.Command(msgfmt, "-o", mo, po).CombinedOutput(); err != nil {
		t.Fatalf("msgfmt: %v\n%s", err, out)
	}
	fromMO, err := ReadMOFile(mo)
	if err != nil {
		t.Fatal(err)
	}
	fromPO, _ := ReadPOFile(po)
	fromPO = slices.DeleteFunc(fromPO, func(m Message) bool { return m.Fuzzy })
	if !reflect.DeepEqual(GettextPairs(fromMO), GettextPairs(fromPO)) || len(fromMO) != len(fromPO) {
		t.Fatalf(".mo %+v\n.po %+v", fromMO, fromPO)
	}
}

func TestGettextPairs(t *testing.T) {
	got := GettextPairs(append(slices.Clone(sampleMsgs),
		Message{ID: "&Open", Translations: []string{"again"}},
		Message{ID: "bad", Translations: []string{"\xff"}},
		Message{ID: "blank", Translations: []string{"  "}},
		Message{ID: "fuzzy", Translations: []string{"x"}, Fuzzy: true}))
	want := []Pair{
		{"&Open", "Ö&ffnen"},
		{"Cannot open %1$s: %2$s", "%1$s kann nicht geöffnet werden: %2$s"},
		{"Save _As…", "Speichern _unter …"},
		{"{0} items selected", "{0}개의 항목이 선택됨"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestCharsets(t *testing.T) {
	header := func(cs string) Message {
		return Message{Translations: []string{"Project-Id-Version: x\nContent-Type: text/plain; charset=" + cs + "\n"}}
	}
	latin := []Message{header("ISO-8859-1"), {ID: "Gr\xf6\xdfe", Translations: []string{"\xc4nderung"}}}
	if Charset(latin) != "iso-8859-1" {
		t.Fatalf("charset %q", Charset(latin))
	}
	got, err := ToUTF8(latin)
	if err != nil || got[1].ID != "Größe" || got[1].Translations[0] != "Änderung" || latin[1].ID != "Gr\xf6\xdfe" {
		t.Fatalf("latin-1: %+v %v", got, err)
	}
	// "\xc7\xd1\xb1\xdb" is EUC-KR for 한글; "\xc7\xa1" is EUC-KR for 퐈 and
	// also valid UTF-8 (ǡ), so the header, not a guess, must decide.
	got, err = ToUTF8([]Message{header("EUC-KR"), {ID: "Korean", Plural: "Koreans", Translations: []string{"\xc7\xd1\xb1\xdb", "\xc7\xa1"}}})
	if err != nil || got[1].ID != "Korean" || got[1].Plural != "Koreans" || got[1].Translations[0] != "한글" || got[1].Translations[1] != "퐈" {
		t.Fatalf("EUC-KR: %+v %v", got, err)
	}
	for cs, in := range map[string]string{"KOI8-R": "\xf0\xd2\xc9\xd7\xc5\xd4", "Shift_JIS": "\x93\xfa\x96\x7b", "windows-1251": "\xcf\xf0\xe8"} {
		want := map[string]string{"KOI8-R": "Привет", "Shift_JIS": "日本", "windows-1251": "При"}[cs]
		got, err := ToUTF8([]Message{header(cs), {ID: "x", Translations: []string{in}}})
		if err != nil || got[1].Translations[0] != want {
			t.Fatalf("%s: %+v %v, want %q", cs, got, err, want)
		}
	}
	// A byte sequence that is not EUC-KR names the charset and the message.
	if _, err := ToUTF8([]Message{header("EUC-KR"), {ID: "bad", Translations: []string{"ok"}}, {ID: "worse", Translations: []string{"\xc7"}}}); err == nil || !strings.Contains(err.Error(), "euc-kr") || !strings.Contains(err.Error(), "message 2") {
		t.Fatalf("invalid EUC-KR: %v", err)
	}
	// An unknown charset is refused by name, not guessed.
	if _, err := ToUTF8([]Message{header("x-no-such-charset"), {ID: "a", Translations: []string{"b"}}}); err == nil || !strings.Contains(err.Error(), `charset "x-no-such-charset"`) {
		t.Fatalf("unknown charset: %v", err)
	}
	if cs := Charset(sampleMsgs); cs != "utf-8" {
		t.Fatalf("sample charset %q", cs)
	}
}

// mkLocale writes catalogues name → pairs under dir/lang/LC_MESSAGES.
func mkLocale(t *testing.T, dir, lang string, cats map[string][]Pair, bo binary.ByteOrder) {
	t.Helper()
	d := filepath.Join(dir, lang, "LC_MESSAGES")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, pairs := range cats {
		msgs := []Message{{ID: "", Translations: []string{"Content-Type: text/plain; charset=UTF-8\n"}}}
		for _, p := range pairs {
			msgs = append(msgs, Message{ID: p.Source, Translations: []string{p.Target}})
		}
		if err := os.WriteFile(filepath.Join(d, name+".mo"), writeMO(bo, msgs), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadGettextAndSplit(t *testing.T) {
	dir := t.TempDir()
	cats := map[string][]Pair{}
	for c := 0; c < 20; c++ {
		name := string(rune('a'+c)) + "-app"
		for i := 0; i <= c; i++ {
			cats[name] = append(cats[name], Pair{name + " message " + string(rune('A'+i)), "Nachricht"})
		}
		cats[name] = append(cats[name], Pair{"Cancel", "Abbrechen"}) // in every catalogue
	}
	mkLocale(t, dir, "de", cats, binary.LittleEndian)
	mkLocale(t, dir, "pt", map[string][]Pair{"x": {{"Yes", "Sim"}}}, binary.BigEndian)
	mkLocale(t, dir, "pt_BR", map[string][]Pair{"x": {{"No", "Não"}}}, binary.LittleEndian)
	os.WriteFile(filepath.Join(dir, "de", "LC_MESSAGES", "broken.mo"), []byte("not a catalogue at all"), 0o644)

	got, warnings, err := LoadGettext(dir, "de")
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0].Error(), "broken.mo: not a .mo file") {
		t.Fatalf("warnings %v", warnings)
	}
	pairs := Flatten(got)
	// 1+2+…+20 messages plus one "Cancel", kept in the first catalogue only.
	if len(got) != 20 || len(pairs) != 210+1 || got[0].Name != "a-app" || !slices.Contains(got[0].Pairs, Pair{"Cancel", "Abbrechen"}) {
		t.Fatalf("%d catalogues, %d pairs, first %q", len(got), len(pairs), got[0].Name)
	}
	pt, _, err := LoadGettext(dir, "pt")
	if err != nil || len(pt) != 1 || pt[0].Pairs[0] != (Pair{"Yes", "Sim"}) {
		t.Fatalf("pt (not pt_BR): %q %v", pt, err)
	}
	if _, _, err := LoadGettext(dir, "fr"); err == nil {
		t.Fatal("no error for a missing language")
	}

	s, err := SplitCatalogues(got, 0.1, 0.1, 7)
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{}
	for set, cs := range map[string][]Catalogue{"train": s.Train, "valid": s.Valid, "test": s.Test} {
		for _, c := range cs {
			if prev, dup := owner[c.Name]; dup {
				t.Fatalf("catalogue %s in %s and %s", c.Name, prev, set)
			}
			owner[c.Name] = set
		}
	}
	nTest, nValid := len(Flatten(s.Test)), len(Flatten(s.Valid))
	if len(owner) != 20 || nTest > 21 || nValid > 21 || nTest < 10 || nValid < 10 {
		t.Fatalf("split sizes: test %d, valid %d pairs of 211, %d catalogues", nTest, nValid, len(owner))
	}
	again, _ := SplitCatalogues(got, 0.1, 0.1, 7)
	if !reflect.DeepEqual(again, s) {
		t.Fatal("same seed, different split")
	}
	other, _ := SplitCatalogues(got, 0.1, 0.1, 8)
	if reflect.DeepEqual(other, s) {
		t.Fatal("seed has no effect")
	}
	if _, err := SplitCatalogues(got, 0.5, 0.5, 1); err == nil {
		t.Fatal("accepted fractions summing to 1")
	}
}
