package git

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sparkmesos/reconciler/internal/gittest"
)

const app = "apiVersion: sparkmesos.io/v1\nkind: SparkApplication\nmetadata:\n  name: %s\n"

func names(s *Snapshot) string {
	var n []string
	for _, f := range s.Files {
		n = append(n, f.Name)
	}
	return strings.Join(n, ",")
}

func mustSync(t *testing.T, r *Repo) *Snapshot {
	t.Helper()
	s, err := r.Sync(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return s
}

func open(t *testing.T, opts Options) *Repo {
	t.Helper()
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	r, err := Open(opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return r
}

// The cache follows a branch through new commits over both transports,
// reading only manifests under the path, named by their repository path.
func TestSyncFollowsBranch(t *testing.T) {
	for _, transport := range []string{"file", "http"} {
		t.Run(transport, func(t *testing.T) {
			o := gittest.New(t)
			first := o.Commit("main", map[string]string{
				"apps/a.yaml":          "a: 1\n",
				"apps/team/b.yml":      "b: 1\n",
				"apps/notes.txt":       "not a manifest",
				"apps/.hidden.yaml":    "hidden: 1\n",
				"apps/.github/ci.yaml": "hidden: 1\n",
				"other/c.yaml":         "c: 1\n",
			})
			url := o.FileURL()
			var srv *gittest.HTTPServer
			if transport == "http" {
				srv = o.ServeHTTP(nil)
				url = srv.URL
			}
			r := open(t, Options{URL: url, Path: "/apps/", Depth: 1})
			s := mustSync(t, r)
			if got := s.Revision.String(); got != "main@sha1:"+first {
				t.Fatalf("revision %s, want main@sha1:%s", got, first)
			}
			if got := names(s); got != "apps/a.yaml,apps/team/b.yml" {
				t.Fatalf("files %s", got)
			}
			if string(s.Files[0].Data) != "a: 1\n" {
				t.Fatalf("content %q", s.Files[0].Data)
			}

			second := o.Commit("main", map[string]string{"apps/a.yaml": "a: 2\n", "apps/team/b.yml": ""})
			s = mustSync(t, r)
			if s.Revision.Hash != second || names(s) != "apps/a.yaml" || string(s.Files[0].Data) != "a: 2\n" {
				t.Fatalf("after a commit: %s %s %q", s.Revision, names(s), s.Files[0].Data)
			}
			if s.Previous.Hash != first {
				t.Fatalf("previous %s, want %s", s.Previous, first)
			}

			if srv != nil {
				fetches := srv.Fetches.Load()
				s = mustSync(t, r)
				if s.Revision.Hash != second {
					t.Fatalf("unchanged: %s", s.Revision)
				}
				if n := srv.Fetches.Load() - fetches; n != 0 {
					t.Fatalf("a sync of an unchanged branch fetched %d times; want only the ref listing", n)
				}
			}
		})
	}
}

// The default branch is whatever the remote's HEAD names.
func TestSyncDefaultBranch(t *testing.T) {
	o := gittest.New(t)
	o.Commit("main", map[string]string{"a.yaml": "a: 1\n"})
	trunk := o.Commit("trunk", map[string]string{"a.yaml": "a: trunk\n"})
	o.Git(o.Bare, "symbolic-ref", "HEAD", "refs/heads/trunk")
	s := mustSync(t, open(t, Options{URL: o.FileURL()}))
	if s.Revision.String() != "trunk@sha1:"+trunk {
		t.Fatalf("revision %s", s.Revision)
	}
}

// Tags (lightweight and annotated) and pinned commits, full or abbreviated.
func TestSyncTagsAndCommits(t *testing.T) {
	o := gittest.New(t)
	first := o.Commit("main", map[string]string{"a.yaml": "a: 1\n"})
	o.Git(o.Work, "tag", "v1")
	o.Git(o.Work, "tag", "-a", "-m", "release", "r1")
	o.Git(o.Work, "push", "-q", "origin", "v1", "r1")
	second := o.Commit("main", map[string]string{"a.yaml": "a: 2\n"})

	for _, tc := range []struct{ ref, want string }{
		{"v1", "v1@sha1:" + first},
		{"r1", "r1@sha1:" + first},
		{"refs/tags/r1", "r1@sha1:" + first},
		{"main", "main@sha1:" + second},
		{first, "sha1:" + first},
		{first[:10], "sha1:" + first},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			s := mustSync(t, open(t, Options{URL: o.FileURL(), Ref: tc.ref, Depth: 1}))
			if s.Revision.String() != tc.want {
				t.Fatalf("revision %s, want %s", s.Revision, tc.want)
			}
		})
	}

	_, err := open(t, Options{URL: o.FileURL(), Ref: "nope"}).Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), `no branch or tag "nope"`) {
		t.Fatalf("unknown ref: %v", err)
	}
	_, err = open(t, Options{URL: o.FileURL(), Ref: "0123456789abcdef"}).Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "on no branch or tag") {
		t.Fatalf("unknown commit: %v", err)
	}
}

// A path missing at a revision, an unknown or removed branch: an error
// that says so, and the cache still has the last good revision.
func TestSyncErrorsKeepTheCache(t *testing.T) {
	o := gittest.New(t)
	first := o.Commit("main", map[string]string{"apps/a.yaml": "a: 1\n"})
	o.Commit("feature", map[string]string{"apps/a.yaml": "a: f\n"})
	cache := t.TempDir()
	r := open(t, Options{URL: o.FileURL(), Ref: "feature", Path: "apps", CacheDir: cache})
	good := mustSync(t, r)

	o.Git(o.Work, "push", "-q", "origin", ":feature")
	_, err := r.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), `no branch or tag "feature"`) {
		t.Fatalf("removed branch: %v", err)
	}
	cached, err := r.Cached()
	if err != nil || cached.Revision != good.Revision || names(cached) != "apps/a.yaml" {
		t.Fatalf("cached after removal: %v %v", cached, err)
	}
	// A new process with the same cache and the remote unreachable.
	reopened := open(t, Options{URL: o.FileURL(), Ref: "feature", Path: "apps", CacheDir: cache})
	if c, err := reopened.Cached(); err != nil || c.Revision != good.Revision {
		t.Fatalf("cached from a new process: %v %v", c, err)
	}

	r = open(t, Options{URL: o.FileURL(), Path: "apps"})
	if _, err := r.Cached(); err == nil {
		t.Fatal("cached before any sync of the default branch")
	}
	mustSync(t, r)
	o.Commit("main", map[string]string{"apps/a.yaml": "", "elsewhere/a.yaml": "a: 1\n"})
	_, err = r.Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "apps/ does not exist at main@sha1:") {
		t.Fatalf("path removed: %v", err)
	}
	if c, err := r.Cached(); err != nil || c.Revision.String() != "main@sha1:"+first {
		t.Fatalf("cached after a sync that failed: %v %v; want the last good main@sha1:%s", c, err, first)
	}
}

// A force-push: the new revision is followed, and with full history the
// snapshot says history was rewritten.
func TestSyncForcePush(t *testing.T) {
	for _, depth := range []int{0, 1} {
		o := gittest.New(t)
		o.Commit("main", map[string]string{"a.yaml": "a: 1\n"})
		o.Commit("main", map[string]string{"a.yaml": "a: 2\n"})
		r := open(t, Options{URL: o.FileURL(), Depth: depth})
		mustSync(t, r)
		o.Git(o.Work, "reset", "-q", "--hard", "HEAD~1")
		rewritten := o.Commit("main", map[string]string{"b.yaml": "b: 1\n"})
		s := mustSync(t, r)
		if s.Revision.Hash != rewritten || names(s) != "a.yaml,b.yaml" || string(s.Files[0].Data) != "a: 1\n" {
			t.Fatalf("depth %d: after a force-push: %s %s", depth, s.Revision, names(s))
		}
		if depth == 0 && !s.Rewritten {
			t.Fatal("full history: a force-push is not reported as rewritten")
		}
		next := o.Commit("main", map[string]string{"c.yaml": "c: 1\n"})
		s = mustSync(t, r)
		if s.Revision.Hash != next || s.Rewritten {
			t.Fatalf("depth %d: a fast-forward after it: %s rewritten=%v", depth, s.Revision, s.Rewritten)
		}
	}
}

// Credentials from files over HTTP: basic and bearer; a wrong one fails
// without the secret in the error; a URL with a password is refused.
func TestSyncHTTPAuth(t *testing.T) {
	o := gittest.New(t)
	o.Commit("main", map[string]string{"a.yaml": "a: 1\n"})
	srv := o.ServeHTTP(func(r *http.Request) bool {
		if u, p, ok := r.BasicAuth(); ok {
			return u == "deploy" && p == "s3cret-token"
		}
		return r.Header.Get("Authorization") == "Bearer b3arer-token"
	})
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, bad, bearer := write("good", "s3cret-token\n"), write("bad", "wrong-password"), write("bearer", "b3arer-token")

	if _, err := open(t, Options{URL: srv.URL}).Sync(context.Background()); err == nil {
		t.Fatal("no credentials: synced anyway")
	}
	_, err := open(t, Options{URL: srv.URL, Auth: Auth{Username: "deploy", PasswordFile: bad}}).Sync(context.Background())
	if err == nil || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("wrong password: %v", err)
	}
	mustSync(t, open(t, Options{URL: srv.URL, Auth: Auth{Username: "deploy", PasswordFile: good}}))
	mustSync(t, open(t, Options{URL: srv.URL, Auth: Auth{TokenFile: bearer}}))

	withPassword := strings.Replace(srv.URL, "http://", "http://deploy:s3cret-token@", 1)
	_, err = Open(Options{URL: withPassword, CacheDir: t.TempDir()})
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "--git-password-file") {
		t.Fatalf("URL with a password: %v", err)
	}
	_, err = open(t, Options{URL: o.FileURL(), Auth: Auth{PasswordFile: good}}).Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "for https URLs") {
		t.Fatalf("password for a file URL: %v", err)
	}
}

// Symbolic links to files in the repository are followed; links out of it
// are problems of that file; oversized files too.
func TestSnapshotLinksAndLimits(t *testing.T) {
	o := gittest.New(t)
	o.Commit("main", map[string]string{"base/a.yaml": "a: 1\n", "apps/keep.yaml": "k: 1\n"})
	for link, dest := range map[string]string{"apps/a.yaml": "../base/a.yaml", "apps/out.yaml": "../../etc/passwd", "apps/abs.yaml": "/etc/passwd"} {
		if err := os.Symlink(dest, filepath.Join(o.Work, link)); err != nil {
			t.Fatal(err)
		}
	}
	big := strings.Repeat("# padding\n", 1+(8<<20)/10)
	o.Commit("main", map[string]string{"apps/big.yaml": big})
	s := mustSync(t, open(t, Options{URL: o.FileURL(), Path: "apps"}))
	if names(s) != "apps/a.yaml,apps/keep.yaml" || string(s.Files[0].Data) != "a: 1\n" {
		t.Fatalf("files %s", names(s))
	}
	var got []string
	for _, p := range s.Problems {
		got = append(got, p.Pos.File+": "+p.Message)
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{"apps/abs.yaml: symbolic link to /etc/passwd leads out", "apps/out.yaml: symbolic link to ../../etc/passwd leads out", "apps/big.yaml: larger than"} {
		if !strings.Contains(joined, want) {
			t.Errorf("problems lack %q:\n%s", want, joined)
		}
	}
}

// A cache that cannot be opened is made again; one for another URL in the
// same directory is left alone.
func TestCacheRecreated(t *testing.T) {
	o := gittest.New(t)
	head := o.Commit("main", map[string]string{"a.yaml": "a: 1\n"})
	cache := t.TempDir()
	r := open(t, Options{URL: o.FileURL(), CacheDir: cache})
	mustSync(t, r)
	if err := os.RemoveAll(filepath.Join(r.dir, "objects")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "config"), []byte("not a git config [[["), 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustSync(t, open(t, Options{URL: o.FileURL(), CacheDir: cache}))
	if s.Revision.Hash != head {
		t.Fatalf("after a broken cache: %s", s.Revision)
	}
}

func TestOpenRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{URL: "file:///x", CacheDir: t.TempDir(), Path: "a/../../b"}, "without '..'"},
		{Options{URL: "ftp://host/x", CacheDir: t.TempDir()}, `scheme "ftp"`},
		{Options{URL: "", CacheDir: t.TempDir()}, "no repository URL"},
	} {
		_, err := Open(tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.opts, err, tc.want)
		}
	}
	_, err := open(t, Options{URL: "ssh://git@127.0.0.1:1/x.git"}).Sync(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--git-known-hosts-file") {
		t.Fatalf("ssh without known hosts: %v", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Fatal("unexpected")
	}
}
