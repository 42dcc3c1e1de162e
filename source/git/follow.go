package git

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Follower keeps a Repo synced: at start, every Interval (jittered by
// ±10% so replicas do not poll in step), and at once when woken (a
// webhook). It keeps the last good snapshot: a failed sync leaves it in
// force and is reported beside it.
type Follower struct {
	Repo     *Repo
	Interval time.Duration
	// Timeout bounds one sync (default 2 minutes).
	Timeout time.Duration
	Log     *slog.Logger
	// OnChange is called after a sync that changed the snapshot's revision
	// or problems, or the sync error.
	OnChange func()
	// OnSync is called after every sync with its error (for metrics).
	OnSync func(err error)

	wake  chan struct{}
	ready chan struct{} // closed after the first sync attempt
	once  sync.Once

	mu      sync.Mutex
	snap    *Snapshot
	err     error
	errText string
}

func (f *Follower) init() {
	f.once.Do(func() {
		f.wake = make(chan struct{}, 1)
		f.ready = make(chan struct{})
		if f.Log == nil {
			f.Log = slog.New(slog.DiscardHandler)
		}
		if f.Timeout == 0 {
			f.Timeout = 2 * time.Minute
		}
	})
}

// Wake asks for a sync now; wakes coalesce.
func (f *Follower) Wake() {
	f.init()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// Ready is closed once the first sync was attempted (and, if it failed,
// the cache consulted): from then on Current has what there is to follow.
func (f *Follower) Ready() <-chan struct{} {
	f.init()
	return f.ready
}

// Current returns the last good snapshot (nil before the first) and the
// error of the last sync (nil when it succeeded).
func (f *Follower) Current() (*Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap, f.err
}

// Run syncs until ctx ends. When the first sync fails, the revision last
// synced into the cache is followed until the remote answers.
func (f *Follower) Run(ctx context.Context) {
	f.init()
	first := true
	for {
		f.syncOnce(ctx, first)
		if first {
			close(f.ready)
		}
		first = false
		wait := time.Duration(float64(f.Interval) * (0.9 + 0.2*rand.Float64()))
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-f.wake:
			timer.Stop()
		case <-timer.C:
		}
	}
}

func (f *Follower) syncOnce(ctx context.Context, first bool) {
	sctx, cancel := context.WithTimeout(ctx, f.Timeout)
	snap, err := f.Repo.Sync(sctx)
	cancel()
	if ctx.Err() != nil {
		return
	}
	if f.OnSync != nil {
		f.OnSync(err)
	}
	f.mu.Lock()
	prev, prevErr := f.snap, f.errText
	if err != nil && first && f.snap == nil {
		if cached, cerr := f.Repo.Cached(); cerr == nil {
			f.Log.Warn("git: the remote cannot be read; following the revision last synced into the cache", "revision", cached.Revision.String(), "err", err)
			f.snap = cached
		}
	}
	if err == nil {
		f.snap = snap
		f.err, f.errText = nil, ""
	} else {
		f.err, f.errText = err, err.Error()
	}
	cur, curErr := f.snap, f.errText
	f.mu.Unlock()

	if curErr != prevErr {
		if curErr != "" {
			following := "nothing yet"
			if cur != nil {
				following = cur.Revision.String()
			}
			f.Log.Error("git sync failed; the last good revision stays in force", "url", f.Repo.URL(), "following", following, "err", err)
		} else {
			f.Log.Info("git sync works again", "url", f.Repo.URL())
		}
	}
	changed := curErr != prevErr || (cur != nil && (prev == nil || cur.Revision != prev.Revision || problemsText(cur) != problemsText(prev)))
	if cur != nil && (prev == nil || cur.Revision != prev.Revision) {
		attrs := []any{"url", f.Repo.URL(), "revision", cur.Revision.String(), "files", len(cur.Files)}
		if prev != nil {
			attrs = append(attrs, "previous", prev.Revision.String())
		}
		if cur.Rewritten {
			f.Log.Warn("git: history was rewritten (the new revision does not descend from the previous one); the prune guard still applies", attrs...)
		} else {
			f.Log.Info("git: new revision", attrs...)
		}
	}
	if changed && f.OnChange != nil {
		f.OnChange()
	}
}

func problemsText(s *Snapshot) string {
	var b strings.Builder
	for _, p := range s.Problems {
		b.WriteString(p.Error())
		b.WriteByte('\n')
	}
	return b.String()
}

// MaxWebhookBody bounds a webhook's body (GitHub caps its payloads at 25 MB).
const MaxWebhookBody = 25 << 20

// SignatureHeader is the header GitHub (and Gitea, and others) sign
// webhook bodies in: sha256=HEX of HMAC-SHA256(secret, body).
const SignatureHeader = "X-Hub-Signature-256"

// checkMAC compares a computed MAC with the header's, in constant time.
func checkMAC(sum []byte, header string) error {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return fmt.Errorf("missing or malformed %s header (want sha256=HEX)", SignatureHeader)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return fmt.Errorf("malformed %s header", SignatureHeader)
	}
	if !hmac.Equal(got, sum) {
		return errors.New("signature does not match the body")
	}
	return nil
}

// WebhookHandler answers POST with a body signed by secret (the header
// SignatureHeader: sha256=HEX of HMAC-SHA256(secret, body)) by waking the
// follower: 202 Accepted. Anything else
// is refused: 405 for other methods, 413 for an oversized body, 401 for
// a missing or wrong signature, 403 when no secret is configured. Every
// push triggers a sync; the sync itself asks the remote where the ref
// points, so a push to another branch costs one ref listing.
func (f *Follower) WebhookHandler(secret []byte, onResult func(accepted bool)) http.Handler {
	f.init()
	refuse := func(w http.ResponseWriter, r *http.Request, code int, why string) {
		f.Log.Warn("git webhook refused", "remote", r.RemoteAddr, "why", why)
		if onResult != nil {
			onResult(false)
		}
		http.Error(w, why, code)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			refuse(w, r, http.StatusMethodNotAllowed, "POST only")
			return
		}
		if len(secret) == 0 {
			refuse(w, r, http.StatusForbidden, "webhooks are off: start run with --git-webhook-secret-file")
			return
		}
		// The body is only signed, never read for content: it is hashed
		// as it streams in, so a large one costs no memory.
		mac := hmac.New(sha256.New, secret)
		if _, err := io.Copy(mac, http.MaxBytesReader(w, r.Body, MaxWebhookBody)); err != nil {
			refuse(w, r, http.StatusRequestEntityTooLarge, "body too large or unreadable")
			return
		}
		if err := checkMAC(mac.Sum(nil), r.Header.Get(SignatureHeader)); err != nil {
			refuse(w, r, http.StatusUnauthorized, err.Error())
			return
		}
		if onResult != nil {
			onResult(true)
		}
		f.Wake()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintln(w, "sync requested")
	})
}
