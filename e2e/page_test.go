package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sparkmesos/reconciler/sim"
)

// chromium is Debian's package's binary (.ci/run installs it).
const chromium = "/usr/bin/chromium"

// artifacts is where browser tests keep their screenshots (not committed):
// $E2E_ARTIFACTS, or bin/artifacts of the repository.
func artifacts(t *testing.T) string {
	dir := os.Getenv("E2E_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "bin", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts headless Chromium in the time zone tz, as the probe of
// this machine starts it (no sandbox as root, no background networking).
func browser(t *testing.T, tz string) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s: %v (.ci/run installs Debian's chromium)", chromium, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900), chromedp.Env("TZ="+tz))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelTimeout)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// do runs steps, failing the test with what they were for.
func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action and returns its value.
func value[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}

func text(sel string) chromedp.Action[string] { return chromedp.Text(chromedp.CSS(sel)) }

// The status page in a real browser: it shows the running application;
// then a manifest breaks and another application fails, and without a
// reload the held file and the failed application appear, with the
// failure's event; times are the viewer's (Asia/Tokyo here); the
// application's page has the run's stderr tail and its log link; a canary
// secret shows nowhere in the page, its parts or the events.
func TestStatusPageInABrowser(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	const canary = "canary-page-secret-7731"
	secret := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(secret, []byte(canary+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.write("steady.yaml", appYAML("steady", fmt.Sprintf(`  arguments: ["--sim-duration=600s"]
  driver:
    secrets: [{valueFrom: {file: %q}, envKey: API_TOKEN}]
  restartPolicy: {type: Always}
`, secret)))
	listen, _ := e.startRun()
	base := "http://" + listen
	ctx := browser(t, "Asia/Tokyo")

	do(t, ctx, "the page never showed steady running", chromedp.Navigate(base+"/"), visible(`tr[data-app="steady"].phase-running`), visible(`#live.on`))
	if marker := value(t, ctx, chromedp.Evaluate[string](`window.__notReloaded = "yes"; window.__notReloaded`)); marker != "yes" {
		t.Fatalf("marker %q", marker)
	}

	// A manifest breaks, another application fails.
	e.write("broken.yaml", "apiVersion: sparkmesos.io/v1\nkind: SparkApplication\nmetadata: {name: broken}\nspec:\n  mainClass: [not, a, string]\n")
	e.write("crashy.yaml", appYAML("crashy", `  arguments: ["--sim-duration=1s", "--sim-outcome=TASK_FAILED"]
`))
	do(t, ctx, "the held file and the failed app did not appear", visible(`#held`), visible(`tr[data-app="crashy"].phase-failed`),
		chromedp.Poll[chromedp.Void](`Array.from(document.querySelectorAll("#events tr")).some(r => r.textContent.includes("SparkApplication/crashy") && r.textContent.includes("Ended"))`))
	held, crashy := value(t, ctx, text(`#held`)), value(t, ctx, text(`tr[data-app="crashy"]`))
	still := value(t, ctx, chromedp.Evaluate[string](`window.__notReloaded || "reloaded"`))
	if still != "yes" {
		t.Errorf("the page was reloaded")
	}
	if !strings.Contains(held, "broken.yaml:5:") || !strings.Contains(held, "spec.mainClass") {
		t.Errorf("held: %q", held)
	}
	if !strings.Contains(crashy, "TASK_FAILED") || !strings.Contains(crashy, "application") {
		t.Errorf("crashy's row: %q", crashy)
	}

	// Times are shown in the viewer's zone.
	iso := value(t, ctx, chromedp.AttributeValue(chromedp.CSS(`tr[data-app="crashy"] time`), "datetime")).Value
	shown := value(t, ctx, text(`tr[data-app="crashy"] time`))
	at, err := time.Parse(time.RFC3339, iso)
	if err != nil {
		t.Fatalf("datetime %q: %v", iso, err)
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	if want := at.In(tokyo).Format("3:04:05"); !strings.Contains(shown, want) || strings.Contains(shown, "UTC") {
		t.Errorf("the time %s shows as %q, want Tokyo's %s", iso, shown, want)
	}

	png := value(t, ctx, chromedp.FullScreenshot(100))
	shot := filepath.Join(artifacts(t), "status-page.png")
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", shot)

	// The application's page: its run, the stderr tail, the log link.
	do(t, ctx, "crashy's page", chromedp.Navigate(base+"/app/crashy"), visible(`pre.stderr`))
	stderr := value(t, ctx, text(`pre.stderr`))
	logsHref := value(t, ctx, chromedp.AttributeValue(chromedp.CSS(`.links a`), "href")).Value
	png = value(t, ctx, chromedp.FullScreenshot(100))
	_ = os.WriteFile(filepath.Join(artifacts(t), "status-page-app.png"), png, 0o644)
	if !strings.Contains(stderr, "simulated failure of crashy") {
		t.Errorf("crashy's stderr tail: %q", stderr)
	}
	if code, log := get(base + logsHref); code != 200 || !strings.Contains(log, "Exception in thread \"main\"") {
		t.Errorf("GET %s: %d %q", logsHref, code, log)
	}

	// The canary: nowhere in what the page is made of.
	do(t, ctx, "the page again", chromedp.Navigate(base+"/"), visible(`#held`))
	html := value(t, ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	_, part := get(base + "/?part=main")
	_, app := get(base + "/app/steady")
	_, evs := get(base + "/events?since=0&once=1")
	for what, text := range map[string]string{"the page": html, "its main part": part, "steady's page": app, "the events": evs} {
		if strings.Contains(text, canary) {
			t.Errorf("the canary secret shows in %s", what)
		}
	}
	if !strings.Contains(app, "steady") || !strings.Contains(evs, "crashy") {
		t.Errorf("steady's page or the events are not what they should be")
	}
}
