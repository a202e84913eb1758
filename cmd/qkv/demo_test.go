package main

import (
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDemoEndsWithAnAttentionPicture: the demo ends by drawing the
// cross-attention behind one word it pronounced, and says where the
// picture is; the file is there and decodes.
func TestDemoEndsWithAnAttentionPicture(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the demo for 3 s")
	}
	out := filepath.Join(t.TempDir(), "demo")
	_, errOut, err := qkv(t, "", "demo", "--time", "3s", "--words", "20", "--out", out)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, errOut)
	}
	m := regexp.MustCompile(`while it pronounced “([^”]+)”.*\n  (\S+)\n`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("the demo does not say where its attention picture is:\n%s", errOut)
	}
	word, pic := m[1], m[2]
	if !strings.HasPrefix(pic, filepath.Join(out, "attention")+string(os.PathSeparator)) || !strings.HasSuffix(pic, "overview-cross.png") {
		t.Errorf("picture %s: want the cross-attention overview under %s/attention", pic, out)
	}
	if !strings.Contains(pic, slug(word)) {
		t.Errorf("picture %s is not named after %q", pic, word)
	}
	f, err := os.Open(pic)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("%s does not decode: %v", pic, err)
	}
	if _, err := os.Stat(strings.TrimSuffix(pic, ".png") + ".svg"); err != nil {
		t.Errorf("no SVG beside it: %v", err)
	}
}
