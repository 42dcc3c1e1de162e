package web

import (
	"context"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/reconcile"
	"github.com/sparkmesos/reconciler/store"
)

// What the page shows comes from records, manifests and drivers: all of
// it is escaped, and the page changes nothing (GET only).
func TestPageEscapesAndOnlyReads(t *testing.T) {
	st := store.NewMemory()
	ctx := context.Background()
	rec := &store.Record{Key: store.Key{Kind: "SparkApplication", Name: "pi"}, Status: store.Status{Phase: "Failed", Message: `<script>alert("x")</script>`},
		Submissions: []store.Submission{{ID: "d-1", State: "TASK_FAILED", Class: "application", SubmittedAt: time.Now(), FinishedAt: time.Now(), StderrTail: "<img src=x onerror=alert(1)>"}}}
	if _, err := st.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	s := &Server{Owner: "t", Store: func() store.Store { return st }, Last: func() *reconcile.LastPass { return nil }, Events: reconcile.NewBroker(0)}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, path := range []string{"/", "/?part=main", "/app/pi"} {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != 200 || strings.Contains(body, `<script>alert`) || strings.Contains(body, "<img src=x") {
			t.Errorf("%s: %d, unescaped content:\n%s", path, resp.StatusCode, body)
		}
		if !strings.Contains(body, "pi") {
			t.Errorf("%s does not show pi", path)
		}
	}
	resp, err := srv.Client().Post(srv.URL+"/app/pi", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("POST /app/pi: %d, want 405", resp.StatusCode)
	}
	if resp, _ := srv.Client().Get(srv.URL + "/app/nope"); resp.StatusCode != 404 {
		t.Errorf("GET /app/nope: %d", resp.StatusCode)
	}
}

// A pass's entries beyond those kept are counted on the page.
func TestPageCountsTheEntriesNotKept(t *testing.T) {
	last := &reconcile.LastPass{At: time.Now(), Entries: []reconcile.Entry{{Kind: "SparkApplication", Name: "pi", Type: "adopt", Phase: "Running"}}, More: 1234, Steady: 5}
	s := &Server{Owner: "t", Store: func() store.Store { return store.NewMemory() }, Last: func() *reconcile.LastPass { return last }, Events: reconcile.NewBroker(0)}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"SparkApplication/pi", "And 1234 more", "5 object(s) as desired"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the page does not say %q:\n%s", want, b)
		}
	}
}
