package web

import (
	"context"
	"fmt"
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
	b := getIndex(t, s)
	for _, want := range []string{"SparkApplication/pi", "And 1234 more", "5 object(s) as desired"} {
		if !strings.Contains(b, want) {
			t.Errorf("the page does not say %q:\n%s", want, b)
		}
	}
}

// getIndex is the index page s serves.
func getIndex(t *testing.T, s *Server) string {
	t.Helper()
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// With Records set, the index lists what it gives and does not list the
// store (run gives the records its passes keep).
func TestPageListsTheRecordsGiven(t *testing.T) {
	st := &listCounter{Memory: store.NewMemory()}
	kept := []*store.Record{{Key: store.Key{Kind: "SparkApplication", Name: "kept-one"}, Status: store.Status{Phase: "Running"}}}
	s := &Server{Owner: "t", Store: func() store.Store { return st }, Last: func() *reconcile.LastPass { return nil }, Events: reconcile.NewBroker(0),
		Records: func(context.Context, store.Store) ([]*store.Record, error) { return kept, nil }}
	b := getIndex(t, s)
	if !strings.Contains(b, `data-app="kept-one"`) || st.lists != 0 {
		t.Errorf("the page listed the store %d times; kept-one shown: %v", st.lists, strings.Contains(b, "kept-one"))
	}
}

type listCounter struct {
	*store.Memory
	lists int
}

func (s *listCounter) List(ctx context.Context, kind string) ([]*store.Record, error) {
	s.lists++
	return s.Memory.List(ctx, kind)
}

// Beyond MaxAppRows applications the index lists those not running
// first, then running ones, and counts the rest.
func TestPageListsAtMostMaxAppRows(t *testing.T) {
	var recs []*store.Record
	for i := 0; i < MaxAppRows+10; i++ {
		phase := "Running"
		if i%100 == 99 {
			phase = "Failed"
		}
		recs = append(recs, &store.Record{Key: store.Key{Kind: "SparkApplication", Name: fmt.Sprintf("app-%04d", i)}, Status: store.Status{Phase: phase}})
	}
	s := &Server{Owner: "t", Store: func() store.Store { return store.NewMemory() }, Last: func() *reconcile.LastPass { return nil }, Events: reconcile.NewBroker(0),
		Records: func(context.Context, store.Store) ([]*store.Record, error) { return recs, nil }}
	p := s.page(context.Background())
	if len(p.Apps) != MaxAppRows || p.AppsMore != 10 || p.AppsMoreRunning != 10 {
		t.Fatalf("%d rows, %d more (%d running); want %d, 10, 10", len(p.Apps), p.AppsMore, p.AppsMoreRunning, MaxAppRows)
	}
	for i, r := range p.Apps[:10] {
		if r.Phase != "Failed" || i > 0 && r.Name < p.Apps[i-1].Name {
			t.Fatalf("row %d: %s %s; want the ten failed first, by name", i, r.Name, r.Phase)
		}
	}
	if p.Apps[10].Name != "app-0000" || p.Apps[10].Phase != "Running" {
		t.Errorf("the first running row: %s %s", p.Apps[10].Name, p.Apps[10].Phase)
	}
	var b strings.Builder
	if err := templates.ExecuteTemplate(&b, "index.html", p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "And 10 more applications, 10 of them running") {
		t.Errorf("the page does not count the applications not listed")
	}
}
