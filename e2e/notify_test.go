package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/notify"
	"github.com/sparkmesos/reconciler/sim"
)

// receiver is a webhook endpoint that keeps what it is sent and answers
// 500 while down.
type receiver struct {
	mu   sync.Mutex
	down bool
	got  []delivery
	srv  *httptest.Server
}

type delivery struct {
	at     time.Time
	status int
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		status := http.StatusOK
		if r.down {
			status = http.StatusInternalServerError
		}
		r.got = append(r.got, delivery{at: time.Now(), status: status, header: req.Header.Clone(), body: body})
		w.WriteHeader(status)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func (r *receiver) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

// acked are the deliveries answered 200.
func acked(ds []delivery) []delivery {
	var out []delivery
	for _, d := range ds {
		if d.status == http.StatusOK {
			out = append(out, d)
		}
	}
	return out
}

// An application fails: one signed webhook delivery and one Slack message,
// each once, however many passes follow; the webhook answering 500 gets
// retries with a growing delay; run SIGKILLed while the delivery waits
// delivers it after its restart, with the same id; the application
// recovering sends one Recovered to each. The Slack URL's token shows
// nowhere: not in run's log, status, events or metrics.
func TestNotificationsOnceSignedAndAfterACrash(t *testing.T) {
	e := setup(t, sim.DispatcherConfig{})
	hook, slack := newReceiver(t), newReceiver(t)
	hook.setDown(true)
	secretFile := filepath.Join(t.TempDir(), "signing-secret")
	if err := os.WriteFile(secretFile, []byte("s3cret-signing-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const canary = "T0CANARY/B0CANARY/xoxCanaryToken42"
	t.Setenv("E2E_SLACK_URL", slack.srv.URL+"/services/"+canary)
	e.write("notifiers.yaml", fmt.Sprintf(`apiVersion: sparkmesos.io/v1
kind: Notifier
metadata: {name: hook}
spec:
  webhook:
    url: %s/spark
    signingSecretFrom: {file: %s}
  events: [Failed, Recovered]
  selector: {matchLabels: {team: data}}
---
apiVersion: sparkmesos.io/v1
kind: Notifier
metadata: {name: chat}
spec:
  slack:
    urlFrom: {env: E2E_SLACK_URL}
  events: [Failed, Recovered]
`, hook.srv.URL, secretFile))
	flaky := func(args string) string {
		return strings.Replace(appYAML("flaky", "  arguments: ["+args+"]\n"), "metadata: {name: flaky}", "metadata: {name: flaky, labels: {team: data}}", 1)
	}
	e.write("flaky.yaml", flaky(`"--sim-duration=1s", "--sim-outcome=TASK_FAILED"`))
	e.write("other.yaml", appYAML("other", `  arguments: ["--sim-duration=1s", "--sim-outcome=TASK_FAILED"]`+"\n"))

	listen := freeAddr(t)
	first, firstLog := e.start(listen)
	// Slack takes its two (flaky and other: no selector); the webhook
	// only flaky's, and answers 500: retried, each wait longer.
	waitUntil(t, "two Slack messages", 30*time.Second, slack.deliveries, func(d []delivery) bool { return len(d) >= 2 })
	failedTries := waitUntil(t, "three attempts at the webhook", 30*time.Second, hook.deliveries, func(d []delivery) bool { return len(d) >= 3 })
	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	id := failedTries[0].header.Get(notify.HeaderDelivery)
	for i, d := range failedTries {
		if d.header.Get(notify.HeaderDelivery) != id {
			t.Errorf("attempt %d carries id %q, the first %q", i, d.header.Get(notify.HeaderDelivery), id)
		}
	}
	if g1, g2 := failedTries[1].at.Sub(failedTries[0].at), failedTries[2].at.Sub(failedTries[1].at); g1 < 700*time.Millisecond || g2 < g1+500*time.Millisecond {
		t.Errorf("retries after %s then %s: want a backoff (1s, 2s, ...)", g1, g2)
	}

	// The receiver comes back; a new run delivers what the killed one left.
	hook.setDown(false)
	listen, log := e.startRun()
	ok := waitUntil(t, "the webhook delivery after the restart", 20*time.Second, hook.deliveries, func(d []delivery) bool { return len(acked(d)) == 1 })
	got := acked(ok)[0]
	if got.header.Get(notify.HeaderDelivery) != id {
		t.Errorf("delivered after the restart with id %q, before the crash %q", got.header.Get(notify.HeaderDelivery), id)
	}
	if !notify.Verify([]byte("s3cret-signing-key"), got.body, got.header.Get(notify.HeaderSignature)) {
		t.Errorf("the signature %q does not verify", got.header.Get(notify.HeaderSignature))
	}
	if !jq(t, fmt.Sprintf(`.id == %q and .event == "Failed" and .kind == "SparkApplication" and .name == "flaky" and .class == "application" and .labels.team == "data"`, id), string(got.body)) {
		t.Errorf("the webhook's body: %s", got.body)
	}

	// Passes go by (resync 1s): nothing more is sent.
	time.Sleep(4 * time.Second)
	if n := len(acked(hook.deliveries())); n != 1 {
		t.Errorf("the webhook got %d deliveries for one failure", n)
	}
	msgs := slack.deliveries()
	if len(msgs) != 2 {
		t.Fatalf("Slack got %d messages, want one per failed application", len(msgs))
	}
	var texts []string
	for _, m := range msgs {
		var body struct{ Text string }
		if err := json.Unmarshal(m.body, &body); err != nil || body.Text == "" {
			t.Fatalf("a Slack message is not {\"text\": ...}: %s", m.body)
		}
		texts = append(texts, body.Text)
	}
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, "*flaky* (SparkApplication) Failed") || !strings.Contains(all, "*other* (SparkApplication) Failed") || !strings.Contains(all, "class application") {
		t.Errorf("Slack texts:\n%s", all)
	}

	// flaky is fixed: its next run succeeds, and each target hears it recovered, once.
	e.write("flaky.yaml", flaky(`"--sim-duration=1s"`))
	waitUntil(t, "Recovered at the webhook", 30*time.Second, hook.deliveries, func(d []delivery) bool { return len(acked(d)) == 2 })
	waitUntil(t, "Recovered on Slack", 10*time.Second, slack.deliveries, func(d []delivery) bool { return len(d) == 3 })
	time.Sleep(3 * time.Second)
	hd, sd := acked(hook.deliveries()), slack.deliveries()
	if len(hd) != 2 || len(sd) != 3 {
		t.Fatalf("after the recovery: %d webhook, %d Slack deliveries; want 2 and 3", len(hd), len(sd))
	}
	if !jq(t, `.event == "Recovered" and .name == "flaky"`, string(hd[1].body)) || !strings.Contains(string(sd[2].body), "*flaky* (SparkApplication) Recovered") {
		t.Errorf("recoveries: %s / %s", hd[1].body, sd[2].body)
	}

	status, _ := e.run("status")
	if !strings.Contains(status, "Notifier") || !strings.Contains(status, "webhook: 2 delivered, 0 waiting") || !strings.Contains(status, "slack: 3 delivered, 0 waiting") {
		t.Errorf("status:\n%s", status)
	}
	statusJSON, _ := e.run("status", "-o", "json")
	events, _ := e.run("events", "--server", "http://"+listen, "--since", "0")
	metrics := waitMetrics(t, listen, `reconciler_notifications_total{event="Failed",notifier="hook",result="delivered"} 1`,
		`reconciler_notifications_total{event="Recovered",notifier="chat",result="delivered"} 1`)
	for what, text := range map[string]string{"the first run's log": firstLog.String(), "run's log": log.String(), "status": status, "status -o json": statusJSON,
		"events": events, "/metrics": metrics} {
		if strings.Contains(text, "xoxCanaryToken42") || strings.Contains(text, "B0CANARY") {
			t.Errorf("the Slack URL's token shows in %s", what)
		}
		if strings.Contains(text, "s3cret-signing-key") {
			t.Errorf("the signing secret shows in %s", what)
		}
	}
}
