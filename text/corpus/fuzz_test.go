package corpus

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"testing"
)

func FuzzReadMO(f *testing.F) {
	f.Add(writeMO(binary.LittleEndian, sampleMsgs))
	f.Add(writeMO(binary.BigEndian, sampleMsgs[:4]))
	f.Add(writeMO(binary.LittleEndian, nil))
	f.Add([]byte{0xde, 0x12, 0x04, 0x95, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0, 28, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := ReadMO(data, "f.mo")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.mo: ") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		// What parses survives a write and a re-read unchanged.
		again, err := ReadMO(writeMO(binary.BigEndian, msgs), "g.mo")
		if err != nil || len(again) != len(msgs) {
			t.Fatalf("re-read: %d → %d messages, %v", len(msgs), len(again), err)
		}
		GettextPairs(msgs)
	})
}

func FuzzReadPO(f *testing.F) {
	f.Add(samplePO)
	f.Add("msgid \"a\\x41\\101\"\nmsgstr \"b\"\n")
	f.Add("#, fuzzy\nmsgctxt \"c\"\nmsgid \"a\"\nmsgid_plural \"as\"\nmsgstr[0] \"x\"\n\"y\"\nmsgstr[1] \"z\"\n")
	f.Add("msgid \"\\\"\nmsgstr \"\"\n")
	f.Add(BOM + "msgid \"a\"\nmsgstr[00000001] \"b\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		msgs, err := ReadPO(strings.NewReader(s), "f.po")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.po:") {
				t.Fatalf("error without the file name: %v", err)
			}
			if len(err.Error()) > 600 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		for _, m := range msgs {
			if len(m.Translations) == 0 {
				t.Fatalf("message %q without translations", m.ID)
			}
		}
		GettextPairs(msgs)
	})
}

func FuzzReadTSV(f *testing.F) {
	f.Add("a\tb\nschön\t아름다운\r\n")
	f.Add("a\t\xff\n")
	f.Add(BOM + "a\tb\n" + BOM + "c\td")
	f.Fuzz(func(t *testing.T, s string) {
		pairs, err := ReadTSV(strings.NewReader(s), "f.tsv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.tsv:") || len(err.Error()) > 600 {
				t.Fatalf("error without the file name, or too long: %.600v", err)
			}
			return
		}
		// The file's byte-order mark (one, at its very start) is not part of
		// the first source; a U+FEFF after it is the source's own.
		if rest, ok := strings.CutPrefix(s, BOM); ok && len(pairs) > 0 {
			first, _, _ := strings.Cut(rest, "\n")
			if src, _, _ := strings.Cut(first, "\t"); first != "" && first != "\r" && pairs[0].Source != src {
				t.Fatalf("first source %q, want %q: the file's byte-order mark is part of it", pairs[0].Source, src)
			}
		}
		var buf bytes.Buffer
		if err := WriteTSV(&buf, pairs); err != nil {
			t.Fatalf("cannot write what was read: %v", err)
		}
		back, err := ReadTSV(&buf, "g")
		if err != nil || !slices.Equal(back, pairs) {
			t.Fatalf("round trip: %q → %q, %v", pairs, back, err)
		}
	})
}

// FuzzReadCMUdict: the dictionary reader never panics, errors name the file
// and line and stay short, and every entry has a word and pronunciations of
// non-empty phones without spaces; a leading BOM changes nothing.
func FuzzReadCMUdict(f *testing.F) {
	f.Add("abandon\tAH0 B AE1 N D AH0 N\nabandon(2)\tAH0 B AE1 N D AH0 N\n")
	f.Add(";;; comment\nABANDON  AH0 B AE1 N D AH0 N # from cmudict.dict\nA(1)  AH0\n")
	f.Add(BOM + "x\t\n")
	f.Add(BOM + BOM + "\tA\n") // CI's find: "\ufeff" was read as a word
	f.Add("word(2)(3)\tW\n\xff\tX\n")
	f.Fuzz(func(t *testing.T, s string) {
		for _, opt := range []CMUOptions{{}, {StripStress: true, Case: LowerCase}} {
			prons, err := ReadCMUdict(strings.NewReader(s), "dict", opt)
			if err != nil {
				if !strings.HasPrefix(err.Error(), "dict:") || len(err.Error()) > 600 {
					t.Fatalf("error without the file and line, or too long: %.600v", err)
				}
				return
			}
			for _, p := range prons {
				if p.Word == "" || len(p.Phones) == 0 {
					t.Fatalf("entry %+v", p)
				}
				for _, seq := range p.Phones {
					if len(seq) == 0 {
						t.Fatalf("%q: empty pronunciation", p.Word)
					}
					for _, ph := range seq {
						if ph == "" || strings.ContainsAny(ph, " \t\n") {
							t.Fatalf("%q: bad phone %q", p.Word, ph)
						}
					}
				}
			}
			if rest, ok := strings.CutPrefix(s, BOM); ok {
				again, err := ReadCMUdict(strings.NewReader(rest), "dict", opt)
				if err != nil || len(again) != len(prons) || (len(prons) > 0 && again[0].Word != prons[0].Word) {
					t.Fatalf("a leading BOM changed the result: %v", err)
				}
			}
			G2PPairs(prons)
		}
	})
}
