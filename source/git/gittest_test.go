package git

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

// origin is a real bare repository and a working clone of it, driven with
// the git command.
type origin struct {
	t    *testing.T
	bare string // the bare repository
	work string // a working clone that pushes to it
	env  []string
}

func newOrigin(t *testing.T) *origin {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("these tests need the git command")
	}
	dir := t.TempDir()
	o := &origin{t: t, bare: filepath.Join(dir, "origin.git"), work: filepath.Join(dir, "work"),
		env: append(os.Environ(), "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")}
	o.git(dir, "init", "-q", "--bare", "-b", "main", o.bare)
	o.git(dir, "init", "-q", "-b", "main", o.work)
	o.git(o.work, "remote", "add", "origin", o.bare)
	return o
}

func (o *origin) git(dir string, args ...string) string {
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

// commit writes files (an empty content removes the file), commits and
// pushes the branch; it returns the commit's hash.
func (o *origin) commit(branch string, files map[string]string) string {
	o.t.Helper()
	for name, content := range files {
		p := filepath.Join(o.work, name)
		if content == "" {
			o.git(o.work, "rm", "-q", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			o.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			o.t.Fatal(err)
		}
	}
	o.git(o.work, "add", "-A")
	o.git(o.work, "commit", "-q", "--allow-empty", "-m", "change")
	o.git(o.work, "push", "-q", "-f", "origin", "HEAD:refs/heads/"+branch)
	return o.git(o.work, "rev-parse", "HEAD")
}

func (o *origin) fileURL() string { return "file://" + o.bare }

// httpServer serves the bare repository with git's own smart HTTP
// protocol (git http-backend as a CGI), optionally behind basic or bearer
// authentication; it counts the requests that fetch objects.
type httpServer struct {
	URL     string
	fetches atomic.Int64 // POST git-upload-pack: a fetch, not a ref listing
	lists   atomic.Int64
}

func (o *origin) serveHTTP(check func(*http.Request) bool) *httpServer {
	o.t.Helper()
	execPath := o.git(".", "--exec-path")
	backend := &cgi.Handler{
		Path: filepath.Join(execPath, "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + filepath.Dir(o.bare), "GIT_HTTP_EXPORT_ALL=1"},
	}
	s := &httpServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if check != nil && !check(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-upload-pack") {
			s.fetches.Add(1)
		} else if strings.HasSuffix(r.URL.Path, "/info/refs") {
			s.lists.Add(1)
		}
		backend.ServeHTTP(w, r)
	}))
	o.t.Cleanup(srv.Close)
	s.URL = srv.URL + "/" + filepath.Base(o.bare)
	return s
}
