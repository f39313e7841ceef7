//go:build integration

package control

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium runs a headless Chromium on url with the extra arguments and
// returns its standard output.
func chromium(t *testing.T, url string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("chromium"); err != nil {
		t.Fatalf("chromium not installed (Debian package chromium, .ci/servers.d/control.sh): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, "chromium", append(append(base, args...), url)...)
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("chromium %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("chromium %v: %v", args, err)
	}
	return out
}

// TestStatusPageHistoryInChromium renders the status page with history in
// a headless Chromium, for a test with outages (db), a test never run
// (new), a test with 90 days of data (web) and a test named <b>x</b>:
// the DOM has every bar and chart and no <b> element, and the screenshot
// shows the grey cells, the orange day and the charts' line. MONSTA_SCREENSHOT=FILE keeps the screenshot
// (docs/status-page.png is made so).
func TestStatusPageHistoryInChromium(t *testing.T) {
	f, _ := historyFixture(t)
	if _, err := f.sil.Add("mail", time.Hour, "disk swap"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.srv.Handler(false, ""))
	defer srv.Close()

	checkStatusDOM(t, string(chromium(t, srv.URL+"/", "--dump-dom")))
	checkTestPagesDOM(t, srv.URL)

	shot := filepath.Join(t.TempDir(), "page.png")
	chromium(t, srv.URL+"/", "--screenshot="+shot, "--window-size=1200,820")
	checkScreenshot(t, shot)
	if keep := os.Getenv("MONSTA_SCREENSHOT"); keep != "" {
		data, err := os.ReadFile(shot)
		if err == nil {
			err = os.WriteFile(keep, data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// checkStatusDOM wants the status page's DOM to hold a bar and a chart
// per test, 90 cells each, and every name as text.
func checkStatusDOM(t *testing.T, dom string) {
	t.Helper()
	if n := strings.Count(dom, `<svg class="bar"`); n != 5 {
		t.Errorf("DOM has %d bars, want 5:\n%s", n, dom)
	}
	if n := strings.Count(dom, `<svg class="ch"`); n != 5 {
		t.Errorf("DOM has %d charts, want 5", n)
	}
	if n := strings.Count(dom, "<rect "); n != 5*BarDays {
		t.Errorf("DOM has %d day cells, want %d", n, 5*BarDays)
	}
	for _, want := range []string{
		`id="test-db"`, `<path d="M0 `, "no runs in the last 24 hours", "never run",
		`<span class="n">&lt;b&gt;x&lt;/b&gt;</span>`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %q", want)
		}
	}
	if strings.Contains(dom, "<b>") || strings.Contains(dom, "<script") {
		t.Error("a test's name or error became markup in the DOM")
	}
}

// checkTestPagesDOM wants db's page to list its outages, and the page of
// <b>x</b> to show its name and error as text.
func checkTestPagesDOM(t *testing.T, base string) {
	t.Helper()
	testDOM := string(chromium(t, base+"/tests/db", "--dump-dom"))
	if !strings.Contains(testDOM, `id="outages"`) || strings.Count(testDOM, "connection refused") < 2 {
		t.Errorf("the test page lacks db's outages:\n%s", testDOM)
	}

	xDOM := string(chromium(t, base+"/tests/%3Cb%3Ex%3C%2Fb%3E", "--dump-dom"))
	if !strings.Contains(xDOM, "&lt;b&gt;x&lt;/b&gt;") || !strings.Contains(xDOM, "&lt;script&gt;alert(1)&lt;/script&gt;") ||
		strings.Contains(xDOM, "<b>") || strings.Contains(xDOM, "<script") {
		t.Errorf("the page of <b>x</b> does not show its name and error as text:\n%s", xDOM)
	}
}

// checkScreenshot wants the PNG to show the bars' green and red cells
// and the chart's blue line: the SVG was laid out and painted.
func checkScreenshot(t *testing.T, path string) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer fh.Close()
	img, err := png.Decode(fh)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// Colours only the history draws: new's 90 grey cells (4x16 pixels
	// each), db's orange day and the charts' blue lines.
	want := []struct {
		name string
		c    color.RGBA
		min  int
	}{
		{"grey cells", color.RGBA{0xd5, 0xd9, 0xe0, 0xff}, BarDays * 4 * 16 * 9 / 10},
		{"orange cell", color.RGBA{0xe5, 0x8b, 0x2b, 0xff}, 4 * 16 * 3 / 4},
		{"chart line", color.RGBA{0x3b, 0x6f, 0xd1, 0xff}, 200},
	}
	found := make([]int, len(want))
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			for i, w := range want {
				if near(img, x, y, w.c) {
					found[i]++
				}
			}
		}
	}
	for i, w := range want {
		if found[i] < w.min {
			t.Errorf("screenshot %v has %d pixels of the %s, want at least %d", b.Size(), found[i], w.name, w.min)
		}
	}
}

func near(img image.Image, x, y int, c color.RGBA) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	d := func(a uint32, b uint8) int { return max(int(a>>8)-int(b), int(b)-int(a>>8)) }
	return d(r, c.R) <= 6 && d(g, c.G) <= 6 && d(b, c.B) <= 6
}
