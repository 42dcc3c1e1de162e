// Package gittest makes real Git repositories for tests: a bare
// repository and a working clone driven with the git command, and git's own
// smart HTTP server (git http-backend) in front of it.
package gittest

import (
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Origin is a real bare repository and a working clone of it, driven with
// the git command.
type Origin struct {
	t    testing.TB
	Bare string // the bare repository
	Work string // a working clone that pushes to it
	env  []string
}

// New makes an empty bare repository (default branch main) and a working
// clone of it.
func New(t testing.TB) *Origin {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("these tests need the git command")
	}
	dir := t.TempDir()
	o := &Origin{t: t, Bare: filepath.Join(dir, "origin.git"), Work: filepath.Join(dir, "work"),
		env: append(os.Environ(), "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")}
	o.Git(dir, "init", "-q", "--bare", "-b", "main", o.Bare)
	o.Git(dir, "init", "-q", "-b", "main", o.Work)
	o.Git(o.Work, "remote", "add", "origin", o.Bare)
	return o
}

// Git runs git in dir and returns its trimmed output.
func (o *Origin) Git(dir string, args ...string) string {
	o.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = o.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		o.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Commit writes files (an empty content removes the file), commits and
// pushes the branch; it returns the commit's hash.
func (o *Origin) Commit(branch string, files map[string]string) string {
	o.t.Helper()
	for name, content := range files {
		p := filepath.Join(o.Work, name)
		if content == "" {
			o.Git(o.Work, "rm", "-q", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			o.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			o.t.Fatal(err)
		}
	}
	o.Git(o.Work, "add", "-A")
	o.Git(o.Work, "commit", "-q", "--allow-empty", "-m", "change")
	o.Git(o.Work, "push", "-q", "-f", "origin", "HEAD:refs/heads/"+branch)
	return o.Git(o.Work, "rev-parse", "HEAD")
}

// FileURL is the bare repository's file:// URL.
func (o *Origin) FileURL() string { return "file://" + o.Bare }

// HTTPServer serves the bare repository with git's own smart HTTP
// protocol (git http-backend as a CGI), optionally behind basic or bearer
// authentication; it counts the requests that fetch objects.
type HTTPServer struct {
	URL     string
	Fetches atomic.Int64 // POST git-upload-pack: a fetch, not a ref listing
	Lists   atomic.Int64 // GET info/refs: a ref listing
}

// ServeHTTP serves the bare repository over HTTP until the test ends;
// check, when set, must accept a request's credentials.
func (o *Origin) ServeHTTP(check func(*http.Request) bool) *HTTPServer {
	o.t.Helper()
	execPath := o.Git(".", "--exec-path")
	backend := &cgi.Handler{
		Path: filepath.Join(execPath, "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(o.Bare), "GIT_HTTP_EXPORT_ALL=1"},
	}
	s := &HTTPServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if check != nil && !check(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			s.Fetches.Add(1)
		} else if strings.HasSuffix(r.URL.Path, "/info/refs") {
			s.Lists.Add(1)
		}
		backend.ServeHTTP(w, r)
	}))
	o.t.Cleanup(srv.Close)
	s.URL = srv.URL + "/" + filepath.Base(o.Bare)
	return s
}
