package numwords

import (
	"strconv"
	"strings"
	"testing"
)

func TestSpell(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0", "zero"},
		{"7", "seven"},
		{"13", "thirteen"},
		{"20", "twenty"},
		{"42", "forty two"},
		{"100", "one hundred"},
		{"101", "one hundred one"},
		{"999", "nine hundred ninety nine"},
		{"1000", "one thousand"}, // not a year: 1001–2999 are
		{"1001", "ten oh one"},
		{"1905", "nineteen oh five"},
		{"1900", "nineteen hundred"},
		{"1984", "nineteen eighty four"},
		{"2000", "two thousand"},
		{"2009", "two thousand nine"},
		{"2010", "twenty ten"},
		{"2026", "twenty twenty six"},
		{"3000", "three thousand"},
		{"12345", "twelve thousand three hundred forty five"},
		{"1,000", "one thousand"}, // a comma makes it a quantity, not a year
		{"1,984", "one thousand nine hundred eighty four"},
		{"1,000,000", "one million"},
		{"2000000005", "two billion five"},
		{"123456789012345", "one hundred twenty three trillion four hundred fifty six billion seven hundred eighty nine million twelve thousand three hundred forty five"},
		{"1234567890123456", "one two three four five six seven eight nine zero one two three four five six"},
		{"007", "zero zero seven"},
		{"3.14", "three point one four"},
		{".5", "point five"},
		{"1,000.25", "one thousand point two five"},
		{"1st", "first"},
		{"2nd", "second"},
		{"3rd", "third"},
		{"4th", "fourth"},
		{"11th", "eleventh"},
		{"12th", "twelfth"},
		{"13th", "thirteenth"},
		{"21st", "twenty first"},
		{"22ND", "twenty second"},
		{"40th", "fortieth"},
		{"99th", "ninety ninth"},
		{"100th", "one hundredth"},
		{"1000000th", "one millionth"},
	} {
		got, ok := Spell(tc.in)
		if !ok || strings.Join(got, " ") != tc.want {
			t.Errorf("Spell(%q) = %q %v, want %q", tc.in, strings.Join(got, " "), ok, tc.want)
		}
	}
}

func TestSpellRefuses(t *testing.T) {
	for _, in := range []string{"", "abc", "1a", "1th", "2st", "11st", "st", "3.", "3.1.4", "1,00", "1,0000", ",100", "01,000", "1.2e5", "-5", "12 3"} {
		if got, ok := Spell(in); ok {
			t.Errorf("Spell(%q) = %q, want a refusal", in, got)
		}
	}
}

// TestEveryWordIsAWord: whatever number is spelled, each word is lowercase
// letters only (a dictionary key), never empty.
func TestEveryWordIsAWord(t *testing.T) {
	for n := 0; n < 3100; n += 7 {
		for _, s := range []string{strconv.Itoa(n), strconv.Itoa(n) + "th", strconv.Itoa(n*1000003 + 17)} {
			words, ok := Spell(s)
			if !ok {
				continue // e.g. "1th"
			}
			for _, w := range words {
				if w == "" || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
					t.Fatalf("Spell(%q) has word %q", s, w)
				}
			}
		}
	}
}
