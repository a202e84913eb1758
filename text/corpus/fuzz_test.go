package corpus

import (
	"bytes"
	"encoding/binary"
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
	f.Fuzz(func(t *testing.T, s string) {
		msgs, err := ReadPO(strings.NewReader(s), "f.po")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.po:") {
				t.Fatalf("error without the file name: %v", err)
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
	f.Fuzz(func(t *testing.T, s string) {
		pairs, err := ReadTSV(strings.NewReader(s), "f.tsv")
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteTSV(&buf, pairs); err != nil {
			t.Fatalf("cannot write what was read: %v", err)
		}
		back, err := ReadTSV(&buf, "g")
		if err != nil || len(back) != len(pairs) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
