package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// The page of qkv serve, tested in a real browser: Debian's chromium,
// headless, driven by chromedp. .ci/run installs chromium; elsewhere the
// test skips when none is found (QKV_CHROMIUM names one). With
// QKV_WEB_SCREENSHOTS=DIR it saves screenshots at laptop and phone size
// into DIR (docs/web/ holds the ones in docs/serving.md).

// chromium returns the path of a Chromium-like browser, or "".
func chromium() string {
	if p := os.Getenv("QKV_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browserContext starts a headless Chromium with a fresh profile and the
// flags that keep it off the network (the machine's closed network
// refuses its background connections otherwise), and collects the page's
// uncaught exceptions and console errors.
func browserContext(t *testing.T, bin string) (context.Context, *pageErrors) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 768),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	errs := &pageErrors{}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				errs.add(fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1))
			}
		}
	}()
	return ctx, errs
}

// pageErrors collects the page's uncaught exceptions and console errors.
type pageErrors struct {
	mu   sync.Mutex
	list []string
}

func (p *pageErrors) add(s string) { p.mu.Lock(); p.list = append(p.list, s); p.mu.Unlock() }
func (p *pageErrors) all() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

// do runs actions, failing the test with what was being done.
func do(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression into a T.
func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// centre scrolls the element of sel into view and returns its centre.
func centre(t *testing.T, ctx context.Context, sel string) (float64, float64) {
	t.Helper()
	xy := eval[[]float64](t, ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return [];
		e.scrollIntoView({block: "center", inline: "center"});
		const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`, sel))
	if len(xy) != 2 {
		t.Fatalf("no element %s on the page", sel)
	}
	return xy[0], xy[1]
}

// hover moves the mouse onto the element of sel, as a user does.
func hover(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	x, y := centre(t, ctx, sel)
	do(t, ctx, "hovering "+sel, chromedp.MouseEvent(chromedp.MouseMoved, x, y))
}

// click clicks the element of sel with the mouse.
func click(t *testing.T, ctx context.Context, sel string) {
	t.Helper()
	x, y := centre(t, ctx, sel)
	do(t, ctx, "clicking "+sel, chromedp.MouseClickXY(x, y))
}

// waitFor waits until the JavaScript condition holds.
func waitFor(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !eval[bool](t, ctx, "!!("+cond+")") {
		if time.Now().After(deadline) {
			errText := eval[string](t, ctx, `document.getElementById("error").textContent`)
			body := eval[string](t, ctx, `document.body.innerText.slice(0, 2000)`)
			t.Fatalf("waiting for %s (%s): not within 15s; error box %q; page:\n%s", what, cond, errText, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiPost posts body to the server and decodes the answer into out.
func apiPost(t *testing.T, url string, body, out any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v: %s", url, err, b)
	}
}

// waitFile waits for a file named name to be complete in dir and returns it.
func waitFile(t *testing.T, dir, name string) []byte {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil && len(b) > 0 {
			return b
		}
		time.Sleep(50 * time.Millisecond)
	}
	entries, _ := os.ReadDir(dir)
	t.Fatalf("no file %s was downloaded into %s (it holds %v)", name, dir, entries)
	return nil
}

// TestWebPage starts a real qkv serve with a small trained model, opens
// its page in headless Chromium, and uses it as a person would: translate
// an input, open a head from the model view, count the heat map's cells,
// hover tokens, open the Q·K·V walk-through and check its numbers against
// the API, save views as SVG and PNG, see an error, and read the page at
// phone size.
func TestWebPage(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("no Chromium found (looked for chromium, chromium-browser, google-chrome, headless-shell on PATH, and $QKV_CHROMIUM): " +
			"install Debian's chromium (apt-get install -y chromium; .ci/run does) to run the browser test")
	}
	model := os.Getenv("QKV_WEB_MODEL") // for the screenshots of the docs: a better-trained model
	if model == "" {
		model, _ = trainedModel(t)
	}
	in := "abcd"
	if s := os.Getenv("QKV_WEB_INPUT"); s != "" {
		in = s
	}
	recurrent, err := recurrentModels()
	if err != nil {
		t.Fatal(err)
	}
	base, _, serveLog := startServe(t, "--model", model, "--model", "rnn="+recurrent["rnnsearch"], "--model", "s2s="+recurrent["seq2seq"],
		"--model", "ens="+recurrent["rnnsearch"]+","+recurrent["seq2seq"], "--max-input-chars", "20")
	name := filepath.Base(model)
	ctx, pageErrs := browserContext(t, bin)
	downloads := t.TempDir()
	shots := os.Getenv("QKV_WEB_SCREENSHOTS")
	shot := func(file string) {
		if shots == "" {
			return
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, file), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "opening the page", chromedp.Navigate(base+"/"))
	waitFor(t, ctx, "the models", `document.getElementById("model-info").textContent.includes("transformer")`)
	models := eval[[]string](t, ctx, `[...document.querySelectorAll("#model option")].map(o => o.value)`)
	if strings.Join(models, " ") != name+" rnn s2s ens" {
		t.Fatalf("model choices %v, want [%s rnn s2s ens]", models, name)
	}

	// Translate, as the API does.
	do(t, ctx, "typing", chromedp.SendKeys(chromedp.ID("input"), in))
	click(t, ctx, "#go")
	waitFor(t, ctx, "the output", `!document.getElementById("result").hidden && document.getElementById("out-text").textContent !== ""`)
	var tr struct {
		Results []struct {
			SourceTokens []string `json:"source_tokens"`
			Outputs      []struct {
				Text     string
				Tokens   []string
				Finished bool
			}
		}
	}
	apiPost(t, base+"/v1/translate", map[string]any{"inputs": []string{in}}, &tr)
	out := tr.Results[0].Outputs[0]
	shown := eval[string](t, ctx, `document.getElementById("out-text").textContent`)
	if shown != out.Text || len(out.Tokens) == 0 {
		t.Fatalf("the page shows %q, the API answers %q", shown, out.Text)
	}
	src := tr.Results[0].SourceTokens
	steps := len(out.Tokens)
	if out.Finished {
		steps++ // the step that writes </s>
	}
	kinds := eval[[]string](t, ctx, `[...document.querySelectorAll("#kinds button")].map(b => b.dataset.kind)`)
	if strings.Join(kinds, ",") != "enc-self,dec-self,cross" {
		t.Errorf("kinds %v", kinds)
	}

	// The model view opens a head: the heat map has one cell per (output
	// step, source token) pair, the head view one head's colour.
	layers := eval[int](t, ctx, `document.querySelectorAll("#layer option").length`)
	heads := eval[int](t, ctx, `new Set([...document.querySelectorAll("#modelview .thumb")].map(g => g.dataset.head)).size`)
	if layers < 1 || heads < 2 {
		t.Fatalf("%d layers, %d heads in the model view", layers, heads)
	}
	last := layers - 1
	click(t, ctx, fmt.Sprintf(`#modelview .thumb[data-layer="%d"][data-head="1"]`, last))
	cells := eval[int](t, ctx, `document.querySelectorAll("#heatmap rect.cell").length`)
	hmHead := eval[int](t, ctx, `+document.querySelector("#heatmap .cells").dataset.head`)
	hmLayer := eval[int](t, ctx, `+document.querySelector("#heatmap .cells").dataset.layer`)
	lineHeads := eval[int](t, ctx, `new Set([...document.querySelectorAll("#headview .ln")].map(l => l.dataset.h)).size`)
	if cells != steps*len(src) || hmHead != 1 || hmLayer != last || lineHeads != 1 {
		t.Errorf("heat map of layer %d head %d: %d cells for %d steps × %d source tokens; head view lines of %d heads",
			hmLayer, hmHead, cells, steps, len(src), lineHeads)
	}
	rowLabels := eval[[]string](t, ctx, `[...document.querySelectorAll("#heatmap .rl")].map(t => t.textContent)`)
	colLabels := eval[[]string](t, ctx, `[...document.querySelectorAll("#heatmap .cl")].map(t => t.textContent)`)
	if strings.Join(colLabels, " ") != strings.Join(src, " ") || len(rowLabels) != steps || rowLabels[0] != out.Tokens[0] {
		t.Errorf("heat map labels: rows %v, columns %v", rowLabels, colLabels)
	}
	// Decoder self-attention: future positions are masked, their cells blank.
	click(t, ctx, `#kinds button[data-kind="dec-self"]`)
	cells = eval[int](t, ctx, `document.querySelectorAll("#heatmap rect.cell").length`)
	if cells != steps*(steps+1)/2 {
		t.Errorf("decoder self-attention: %d cells for %d steps, want %d (the masked ones blank)", cells, steps, steps*(steps+1)/2)
	}
	click(t, ctx, `#kinds button[data-kind="cross"]`)
	click(t, ctx, fmt.Sprintf(`#modelview .thumb[data-layer="%d"][data-head="1"]`, last))

	type widths struct{ Doc, View int }
	const measure = `({Doc: document.documentElement.scrollWidth, View: window.innerWidth})`
	if w := eval[widths](t, ctx, measure); w.Doc > w.View {
		t.Errorf("at laptop size the page is %d px wide on a %d px screen", w.Doc, w.View)
	}
	eval[chromedp.Void](t, ctx, `window.scrollTo(0, document.getElementById("attention").offsetTop - 8)`)
	shot("laptop.png")

	// Hover an output token: only its lines show, it and its heat-map row
	// are highlighted. Hover a source token: the lines into it.
	hover(t, ctx, `#headview .tok.q[data-i="1"]`)
	type highlight struct {
		Token, Chip bool
		Visible     int
		Others      int
		Box         string
		Y, Want     float64
	}
	const hlState = `(() => {
		const vis = [...document.querySelectorAll("#headview .ln")].filter(l => l.getAttribute("visibility") !== "hidden");
		const hm = document.getElementById("heatmap"), box = hm.querySelector(".hlbox");
		return {Token: document.querySelector('#headview .tok.%[1]s[data-i="%[2]d"]').classList.contains("hl"),
			Chip: document.querySelector('.chip[data-side="%[3]s"][data-i="%[2]d"]').classList.contains("hl"),
			Visible: vis.length, Others: vis.filter(l => l.dataset.%[4]s !== "%[2]d").length,
			Box: box.getAttribute("visibility"), Y: +box.getAttribute("%[5]s"),
			Want: +hm.dataset.%[6]s + %[2]d * hm.dataset.cell};
	})()`
	hl := eval[highlight](t, ctx, fmt.Sprintf(hlState, "q", 1, "out", "i", "y", "top"))
	if !hl.Token || !hl.Chip || hl.Visible == 0 || hl.Others != 0 || hl.Box != "visible" || hl.Y != hl.Want {
		t.Errorf("hovering output token 1: %+v", hl)
	}
	hover(t, ctx, `#headview .tok.k[data-i="0"]`)
	hl = eval[highlight](t, ctx, fmt.Sprintf(hlState, "k", 0, "src", "j", "x", "left"))
	if !hl.Token || !hl.Chip || hl.Visible == 0 || hl.Others != 0 || hl.Box != "visible" || hl.Y != hl.Want {
		t.Errorf("hovering source token 0: %+v", hl)
	}

	// Click an output token: its Q·K·V walk-through, with the numbers of the API.
	click(t, ctx, `#headview .tok.q[data-i="0"]`)
	waitFor(t, ctx, "the Q·K·V panel", `!document.getElementById("qkv-card").hidden && document.querySelectorAll("#qkvsvg .key").length > 0`)
	var walk struct {
		Keys []struct {
			Index  int
			Token  string
			Weight float64
		}
	}
	apiPost(t, base+"/v1/explain", map[string]any{"model": name, "input": in, "target_tokens": out.Tokens, "kind": "cross",
		"layer": last, "head": 1, "query_token": 0}, &walk)
	top := 0
	for j, k := range walk.Keys {
		if k.Weight > walk.Keys[top].Weight {
			top = j
		}
	}
	type qkvPanel struct {
		Weights []float64
		First   int
		Text    string
	}
	panel := eval[qkvPanel](t, ctx, `({Weights: [...document.querySelectorAll("#qkvsvg .key")].map(g => +g.dataset.weight),
		First: +document.querySelector("#qkvsvg .key").dataset.index,
		Text: document.getElementById("qkv").innerText})`)
	sum := 0.0
	for _, w := range panel.Weights {
		sum += w
	}
	if len(panel.Weights) != len(src) || math.Abs(sum-1) > 1e-4 || panel.First != walk.Keys[top].Index {
		t.Errorf("Q·K·V panel: weights %v (sum %v), top key %d; the API's top key is %d", panel.Weights, sum, panel.First, walk.Keys[top].Index)
	}
	for _, words := range []string{"the question this token asks", "the name tag each token wears", "what a token hands over when chosen", "head 1", "sum to 1.0000"} {
		if !strings.Contains(panel.Text, words) {
			t.Errorf("the Q·K·V panel does not say %q:\n%s", words, panel.Text)
		}
	}
	eval[chromedp.Void](t, ctx, `window.scrollTo(0, document.getElementById("qkv").offsetTop - 8)`)
	shot("laptop-qkv.png")

	// Save the heat map as SVG and PNG.
	click(t, ctx, `.saves[data-view="heatmap"] button[data-fmt="svg"]`)
	waitFor(t, ctx, "the SVG", `(document.body.dataset.saved || "").endsWith(".svg")`)
	saved := eval[string](t, ctx, `document.body.dataset.saved`)
	svg := string(waitFile(t, downloads, saved))
	if !strings.HasSuffix(saved, ".svg") || !strings.HasPrefix(svg, "<?xml") || !strings.Contains(svg, `xmlns="http://www.w3.org/2000/svg"`) ||
		strings.Count(svg, `class="cell"`) != steps*len(src) {
		t.Errorf("saved %s: %d cells in %d bytes:\n%.300s", saved, strings.Count(svg, `class="cell"`), len(svg), svg)
	}
	click(t, ctx, `.saves[data-view="headview"] button[data-fmt="png"]`)
	waitFor(t, ctx, "the PNG", `(document.body.dataset.saved || "").endsWith(".png")`)
	saved = eval[string](t, ctx, `document.body.dataset.saved`)
	if png := waitFile(t, downloads, saved); !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) || len(png) < 1000 {
		t.Errorf("saved %s: %d bytes, not a PNG", saved, len(png))
	}

	// An input the model cannot read: the page says why.
	do(t, ctx, "typing", chromedp.SetValue(chromedp.ID("input"), strings.Repeat("abc", 10)))
	click(t, ctx, "#go")
	waitFor(t, ctx, "the error", `!document.getElementById("error").hidden`)
	errText := eval[string](t, ctx, `document.getElementById("error").textContent`)
	if !strings.Contains(errText, "--max-input-chars") {
		t.Errorf("error shown: %q", errText)
	}

	// RNNsearch: one additive map, and no Q·K·V to walk through.
	do(t, ctx, "choosing RNNsearch", chromedp.SetValue(chromedp.ID("model"), "rnn"), chromedp.SetValue(chromedp.ID("input"), "abc"))
	click(t, ctx, "#go")
	waitFor(t, ctx, "RNNsearch's output", `document.getElementById("error").hidden && document.querySelector("#kinds button").dataset.kind === "cross" &&
		document.getElementById("out-score").textContent.includes("model rnn")`)
	var rnn struct {
		Results []struct {
			Outputs []struct {
				Tokens   []string
				Finished bool
			}
		}
	}
	apiPost(t, base+"/v1/translate", map[string]any{"model": "rnn", "inputs": []string{"abc"}}, &rnn)
	rnnSteps := len(rnn.Results[0].Outputs[0].Tokens)
	if rnn.Results[0].Outputs[0].Finished {
		rnnSteps++
	}
	kinds = eval[[]string](t, ctx, `[...document.querySelectorAll("#kinds button")].map(b => b.textContent)`)
	cells = eval[int](t, ctx, `document.querySelectorAll("#heatmap rect.cell").length`)
	if len(kinds) != 1 || !strings.Contains(kinds[0], "Additive") || cells != 3*rnnSteps {
		t.Errorf("RNNsearch: kinds %v, %d cells for %d steps × 3 source tokens", kinds, cells, rnnSteps)
	}
	click(t, ctx, `#headview .tok.q[data-i="0"]`)
	waitFor(t, ctx, "the note on additive attention", `!document.getElementById("qkv").hidden && document.getElementById("qkv-text").textContent.includes("additive")`)
	// seq2seq: no attention, and the page says so.
	do(t, ctx, "choosing seq2seq", chromedp.SetValue(chromedp.ID("model"), "s2s"))
	click(t, ctx, "#go")
	waitFor(t, ctx, "the note on seq2seq", `!document.getElementById("no-attention").hidden && document.getElementById("no-attention").textContent.includes("no attention") &&
		document.getElementById("controls").hidden`)
	// An ensemble: an output, no attention, and the page says why.
	do(t, ctx, "choosing the ensemble", chromedp.SetValue(chromedp.ID("model"), "ens"))
	eval[chromedp.Void](t, ctx, `document.getElementById("model").dispatchEvent(new Event("change"))`)
	waitFor(t, ctx, "the ensemble's description", `document.getElementById("model-info").textContent.includes("2 models decoding together: rnnsearch + seq2seq")`)
	click(t, ctx, "#go")
	waitFor(t, ctx, "the note on ensembles", `!document.getElementById("no-attention").hidden &&
		document.getElementById("no-attention").textContent.includes("ensemble of 2 models (rnnsearch, seq2seq)") && document.getElementById("controls").hidden`)

	// A phone: one column, nothing wider than the screen but the views'
	// own scrolling boxes.
	do(t, ctx, "phone size", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile), chromedp.Navigate(base+"/"))
	waitFor(t, ctx, "the models", `document.getElementById("model-info").textContent !== ""`)
	do(t, ctx, "typing", chromedp.SendKeys(chromedp.ID("input"), in))
	click(t, ctx, "#go")
	waitFor(t, ctx, "the output", `document.getElementById("out-text").textContent !== ""`)
	width := eval[widths](t, ctx, measure)
	if width.Doc > width.View {
		t.Errorf("at phone size the page is %d px wide on a %d px screen", width.Doc, width.View)
	}
	eval[chromedp.Void](t, ctx, `document.getElementById("attention").scrollIntoView()`)
	shot("phone-attention.png")

	for _, e := range pageErrs.all() {
		// The browser logs the answer to the input it could not read.
		if strings.Contains(e, "status of 400") && strings.Contains(e, "/v1/translate") {
			continue
		}
		t.Errorf("the page had an error: %s", e)
	}
	if t.Failed() {
		t.Logf("qkv serve:\n%s", serveLog.String())
	}
}
