package browsertest_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestBoardPackPrint: printed, the ICB view is a board-pack page: no
// skip link, navigation, account line, filter forms or download links;
// the header, the charts and the special-cause table stay; the charts are
// not split across pages. The PDF Chromium prints is kept as an artifact.
func TestBoardPackPrint(t *testing.T) {
	_, b := setup(t)
	b.signIn(analyst, password)
	b.open("/icb")
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	display := eval[map[string]string](b, "read what prints", `(() => {
		const d = s => { const e = document.querySelector(s); return e ? getComputedStyle(e).display : "absent"; };
		return {skip: d('.nhsuk-skip-link'), nav: d('.nhsuk-navigation-container'), account: d('.steward-account'), filter: d('form.select'),
			header: d('header.nhsuk-header'), chart: d('section.icb-measure svg.spc-chart'), funnel: d('svg.funnel-chart'), special: d('#special'), note: d('#board-pack-note'),
			breakInside: getComputedStyle(document.querySelector('section.icb-measure')).breakInside};
	})()`)
	for what, want := range map[string]string{"skip": "none", "nav": "none", "account": "none", "filter": "none"} {
		if display[what] != want {
			t.Errorf("printed, %s is displayed %q, want %s", what, display[what], want)
		}
	}
	for _, what := range []string{"header", "chart", "funnel", "special", "note"} {
		if d := display[what]; d == "none" || d == "absent" {
			t.Errorf("printed, %s is %q: it must print", what, d)
		}
	}
	if display["breakInside"] != "avoid" {
		t.Errorf("a measure's section breaks inside: %q", display["breakInside"])
	}
	yes := true
	pdf, err := chromedp.Call(ctx, page.PrintToPDF, page.PrintToPDFParams{PrintBackground: &yes, PaperWidth: 8.27, PaperHeight: 11.69})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(pdf.Data, []byte("%PDF-")) || bytes.Count(pdf.Data, []byte("/Type /Page")) < 2 {
		t.Fatalf("the printed board pack is not a PDF of several pages (%d bytes)", len(pdf.Data))
	}
	path := filepath.Join(t.ArtifactDir(), "icb-board-pack.pdf")
	if err := os.WriteFile(path, pdf.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("board pack: %s (%d bytes, %d pages)", path, len(pdf.Data), bytes.Count(pdf.Data, []byte("/Type /Page"))-bytes.Count(pdf.Data, []byte("/Type /Pages")))
}
