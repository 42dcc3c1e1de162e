package git

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sparkmesos/reconciler/internal/gittest"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func currentHash(f *Follower) string {
	s, _ := f.Current()
	if s == nil {
		return ""
	}
	return s.Revision.Hash
}

// A wake syncs at once, long before the poll interval; a poll interval
// picks a commit up by itself.
func TestFollowerWakeAndPoll(t *testing.T) {
	o := gittest.New(t)
	first := o.Commit("main", map[string]string{"a.yaml": "a: 1\n"})
	var changes atomic.Int64
	f := &Follower{Repo: open(t, Options{URL: o.FileURL()}), Interval: time.Hour, OnChange: func() { changes.Add(1) }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	waitFor(t, "the first sync", func() bool { return currentHash(f) == first })

	second := o.Commit("main", map[string]string{"a.yaml": "a: 2\n"})
	f.Wake()
	waitFor(t, "the woken sync", func() bool { return currentHash(f) == second })
	if n := changes.Load(); n != 2 {
		t.Fatalf("OnChange called %d times for two revisions", n)
	}

	p := &Follower{Repo: open(t, Options{URL: o.FileURL()}), Interval: 20 * time.Millisecond}
	go p.Run(ctx)
	waitFor(t, "the first poll", func() bool { return currentHash(p) == second })
	third := o.Commit("main", map[string]string{"a.yaml": "a: 3\n"})
	waitFor(t, "a later poll", func() bool { return currentHash(p) == third })
}

// A remote that cannot be read at start: the cache's last synced revision
// is followed, with the error beside it; when the remote answers again,
// the error clears.
func TestFollowerFallsBackToTheCache(t *testing.T) {
	o := gittest.New(t)
	head := o.Commit("main", map[string]string{"a.yaml": "a: 1\n"})
	cache := t.TempDir()
	mustSync(t, open(t, Options{URL: o.FileURL(), CacheDir: cache}))
	moved := o.Bare + ".away"
	if err := os.Rename(o.Bare, moved); err != nil {
		t.Fatal(err)
	}
	f := &Follower{Repo: open(t, Options{URL: o.FileURL(), CacheDir: cache}), Interval: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go f.Run(ctx)
	waitFor(t, "the cached revision", func() bool { return currentHash(f) == head })
	if _, err := f.Current(); err == nil {
		t.Fatal("following the cache, yet no sync error reported")
	}
	if err := os.Rename(moved, o.Bare); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the error to clear", func() bool { _, err := f.Current(); return err == nil })
}

func TestWebhook(t *testing.T) {
	secret := []byte("hook-secret")
	body := []byte(`{"ref":"refs/heads/main"}`)
	f := &Follower{}
	var accepted, refused atomic.Int64
	count := func(ok bool) {
		if ok {
			accepted.Add(1)
		} else {
			refused.Add(1)
		}
	}
	h := f.WebhookHandler(secret, count)
	post := func(h http.Handler, method, sig string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/hooks/git", bytes.NewReader(body))
		if sig != "" {
			req.Header.Set(SignatureHeader, sig)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	if w := post(h, "POST", sign(secret, body), body); w.Code != http.StatusAccepted {
		t.Fatalf("signed: %d %s", w.Code, w.Body)
	}
	select {
	case <-f.wake:
	default:
		t.Fatal("a signed webhook did not wake the follower")
	}
	for _, tc := range []struct {
		name, method, sig string
		body              []byte
		code              int
	}{
		{"unsigned", "POST", "", body, http.StatusUnauthorized},
		{"wrong secret", "POST", sign([]byte("other"), body), body, http.StatusUnauthorized},
		{"body changed", "POST", sign(secret, body), append(body, ' '), http.StatusUnauthorized},
		{"sha1 only", "POST", "sha1=0123", body, http.StatusUnauthorized},
		{"not hex", "POST", "sha256=zz", body, http.StatusUnauthorized},
		{"GET", "GET", sign(secret, body), body, http.StatusMethodNotAllowed},
		{"too large", "POST", "sha256=00", bytes.Repeat([]byte("x"), MaxWebhookBody+1), http.StatusRequestEntityTooLarge},
	} {
		if w := post(h, tc.method, tc.sig, tc.body); w.Code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, w.Code, w.Body, tc.code)
		}
	}
	select {
	case <-f.wake:
		t.Fatal("a refused webhook woke the follower")
	default:
	}
	if w := post(f.WebhookHandler(nil, count), "POST", sign(nil, body), body); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "--git-webhook-secret-file") {
		t.Fatalf("no secret configured: %d %s", w.Code, w.Body)
	}
	if accepted.Load() != 1 || refused.Load() != 8 {
		t.Fatalf("counted %d accepted, %d refused", accepted.Load(), refused.Load())
	}
}

// sign returns the X-Hub-Signature-256 value of body, as GitHub computes it.
func sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
