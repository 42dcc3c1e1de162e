// Package web is run's status page: one read-only page of what the
// reconciler manages (applications, schedules, services, roles,
// notifiers), the source's revisions and held files, the plan of the
// latest pass, and the recent events, kept current from the event stream
// without a reload; and a page per application with its runs, their
// stderr tails and links to their logs and Spark UI. Server-rendered
// HTML (html/template: everything is escaped) with a little embedded
// JavaScript; it changes nothing.
package web

import (
	"context"
	"embed"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/reconcile"
	"github.com/sparkmesos/reconciler/store"
)

//go:embed assets
var assets embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"time":  timeTag,
	"short": shortID,
	"lower": strings.ToLower,
}).ParseFS(assets, "assets/*.html"))

// Server serves the page.
type Server struct {
	// Store is the store this replica reads (nil while it does not lead).
	Store func() store.Store
	// Records, when set, are the records the index lists (else the
	// store's List): run gives the applications' records its passes keep,
	// so that a page kept open does not decode every record each time it
	// refreshes.
	Records func(ctx context.Context, st store.Store) ([]*store.Record, error)
	// Last is the latest pass (nil before one).
	Last func() *reconcile.LastPass
	// Events are the recent events.
	Events *reconcile.Broker
	// Logs reads a run's driver log (stderr) from its sandbox.
	Logs func(ctx context.Context, rec *store.Record, run *store.Submission) (string, error)
	// Owner names this reconciler.
	Owner string
}

// Handler serves GET / (the page; ?part=main: its main part, for the
// script), GET /app/NAME, GET /logs/NAME?run=ID and the script.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.index)
	mux.HandleFunc("GET /app/{name}", s.app)
	mux.HandleFunc("GET /logs/{name}", s.logs)
	mux.Handle("GET /assets/", http.FileServerFS(assets))
	return mux
}

// Patterns are the patterns Handler serves, for a mux that mounts it.
var Patterns = []string{"GET /{$}", "GET /app/{name}", "GET /logs/{name}", "GET /assets/"}

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
	w.Header().Set("X-Frame-Options", "DENY")
	if err := templates.ExecuteTemplate(w, name, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// Row is one object of a table.
type Row struct {
	Kind, Name, Phase, Message string
	Run                        *store.Submission
	Since                      time.Time
}

// Page is what the index shows.
type Page struct {
	Owner   string
	Leading bool
	Now     time.Time
	PassAt  time.Time
	Source  *store.Meta
	Apps    []Row
	// AppsMore are the applications beyond MaxAppRows, running ones of
	// them AppsMoreRunning (counted only).
	AppsMore, AppsMoreRunning int
	Other                     []Row // schedules, services, roles, notifiers
	Plan                      []reconcile.Entry
	PlanMore                  int // entries that do something beyond Plan (counted only)
	Steady                    int // plan entries that change nothing
	Events                    []reconcile.StreamEvent
	Problems                  []string
	Error                     string
}

func (s *Server) page(ctx context.Context) Page {
	p := Page{Owner: s.Owner, Now: time.Now()}
	if s.Events != nil {
		p.Events = s.Events.Recent(50)
		slices.Reverse(p.Events)
	}
	if last := s.Last(); last != nil {
		p.PassAt, p.Plan, p.PlanMore, p.Steady = last.At, last.Entries, last.More, last.Steady
	}
	st := s.Store()
	if st == nil {
		p.Error = string(errNotLeading)
		return p
	}
	p.Leading = true
	if m, err := st.GetMeta(ctx); err == nil && m.Source != "" {
		m.DigestKey = ""
		p.Source = m
	}
	list := s.Records
	if list == nil {
		list = func(ctx context.Context, st store.Store) ([]*store.Record, error) { return st.List(ctx, "") }
	}
	recs, err := list(ctx, st)
	if err != nil {
		p.Error = "cannot read the store: " + err.Error()
		return p
	}
	for _, r := range recs {
		row := Row{Kind: r.Key.Kind, Name: r.Key.Name, Phase: r.Status.Phase, Message: r.Status.Message, Since: r.Status.ObservedAt}
		if n := len(r.Submissions); n > 0 {
			row.Run = &r.Submissions[n-1]
		}
		if n := r.Notify; n != nil {
			row.Phase, row.Message = reconcile.NotifierStatus(n)
		}
		if sc := r.Schedule; sc != nil && len(sc.Runs) > 0 {
			row.Message = strings.TrimSpace(row.Message + " (latest run " + sc.Runs[len(sc.Runs)-1].Name + ")")
		}
		if r.Key.Kind == v1.KindSparkApplication {
			p.Apps = append(p.Apps, row)
		} else {
			p.Other = append(p.Other, row)
		}
	}
	sort.SliceStable(p.Other, func(i, j int) bool { return kindRank(p.Other[i].Kind) < kindRank(p.Other[j].Kind) })
	if len(p.Apps) > MaxAppRows {
		// Those not running first (failed, pending, held, ...): they are
		// what the page is opened for.
		sort.SliceStable(p.Apps, func(i, j int) bool {
			return p.Apps[i].Phase != reconcile.PhaseRunning && p.Apps[j].Phase == reconcile.PhaseRunning
		})
		for _, r := range p.Apps[MaxAppRows:] {
			if r.Phase == reconcile.PhaseRunning {
				p.AppsMoreRunning++
			}
		}
		p.AppsMore, p.Apps = len(p.Apps)-MaxAppRows, p.Apps[:MaxAppRows]
	}
	return p
}

// MaxAppRows is how many applications the index lists: those not running
// first, then running ones, each by name. (100,000 rows were 25 MB of HTML
// on every refresh.)
const MaxAppRows = 1000

func kindRank(k string) int {
	if i := slices.Index(v1.Kinds, k); i >= 0 {
		return i
	}
	return len(v1.Kinds)
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	name := "index.html"
	if r.URL.Query().Get("part") == "main" {
		name = "main"
	}
	s.render(w, name, s.page(r.Context()))
}

// AppPage is an application's page.
type AppPage struct {
	Owner  string
	Record *store.Record
	Runs   []RunView
	Error  string
}

// RunView is one run with its links.
type RunView struct {
	store.Submission
	SparkUI, History string
}

func (s *Server) app(w http.ResponseWriter, r *http.Request) {
	p := AppPage{Owner: s.Owner}
	rec, err := s.record(r.Context(), r.PathValue("name"))
	if err != nil {
		w.WriteHeader(http.StatusNotFound)
		p.Error = err.Error()
		s.render(w, "app.html", p)
		return
	}
	p.Record = rec
	for i := len(rec.Submissions) - 1; i >= 0; i-- {
		run := rec.Submissions[i]
		ui, history := reconcile.RunLinks(rec, &run)
		p.Runs = append(p.Runs, RunView{Submission: run, SparkUI: ui, History: history})
	}
	s.render(w, "app.html", p)
}

func (s *Server) record(ctx context.Context, name string) (*store.Record, error) {
	st := s.Store()
	if st == nil {
		return nil, errNotLeading
	}
	return st.Get(ctx, store.Key{Kind: v1.KindSparkApplication, Name: name})
}

type pageError string

func (e pageError) Error() string { return string(e) }

const errNotLeading = pageError("this replica does not lead: the leader's page shows the cluster")

// logs is a run's driver stderr as text: read from its sandbox, or the
// tail the record kept when the sandbox is gone.
func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rec, err := s.record(r.Context(), r.PathValue("name"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	run, err := reconcile.FindRun(rec, r.URL.Query().Get("run"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	text, err := "", error(pageError("no log reader"))
	if s.Logs != nil {
		text, err = s.Logs(ctx, rec, run)
	}
	if err != nil {
		if run.StderrTail == "" {
			http.Error(w, "the sandbox of "+run.ID+" cannot be read: "+err.Error(), http.StatusBadGateway)
			return
		}
		text = "# the sandbox of " + run.ID + " cannot be read (" + err.Error() + "); its stderr tail, copied when it ended:\n" + run.StderrTail
	}
	_, _ = w.Write([]byte(text))
}

// timeTag is a time the script shows in the viewer's time zone (UTC
// without the script).
func timeTag(t time.Time) template.HTML {
	if t.IsZero() {
		return "-"
	}
	u := t.UTC()
	return template.HTML(`<time datetime="` + u.Format(time.RFC3339) + `">` + u.Format("2006-01-02 15:04:05") + ` UTC</time>`)
}

func shortID(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
