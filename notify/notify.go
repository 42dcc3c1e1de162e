// Package notify delivers notifications to a Notifier's target: a JSON
// webhook (signed with HMAC-SHA256 the way GitHub signs its webhooks), a
// Slack-compatible incoming webhook, or a command fed the notification on
// its stdin. What to notify and when is the loop's (reconcile); this
// package only speaks to targets. Secrets (a URL with a token, a signing
// key) are read at each delivery and never appear in an error.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/store"
)

// Headers of a webhook delivery.
const (
	HeaderSignature = "X-Reconciler-Signature-256"
	HeaderDelivery  = "X-Reconciler-Delivery"
	HeaderEvent     = "X-Reconciler-Event"
)

// Lookup reads a secret from the reconciler's environment or a file.
type Lookup func(v1.ValueSource) (string, error)

// secret reads a target's secret; a file's trailing newline is not part
// of it (echo and editors add one).
func (l Lookup) secret(v v1.ValueSource) (string, error) {
	s, err := l(v)
	return strings.TrimRight(s, "\r\n"), err
}

// Target delivers one notification; an error means it was not
// acknowledged and is retried.
type Target interface {
	Deliver(ctx context.Context, n store.Notification) error
}

// New returns the target a Notifier's spec names. client is used for the
// webhooks (nil: a client with a 10 s timeout).
func New(spec *v1.NotifierSpec, lookup Lookup, client *http.Client) (Target, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	switch {
	case spec.Webhook != nil:
		return &webhook{spec: spec.Webhook, lookup: lookup, client: client}, nil
	case spec.Slack != nil:
		return &slack{spec: spec.Slack, lookup: lookup, client: client}, nil
	case spec.Command != nil:
		return &command{argv: spec.Command.Argv, timeout: time.Duration(v1.DurationOr(spec.Command.Timeout, v1.DefaultCommandTimeout).Micros) * time.Microsecond}, nil
	}
	return nil, errors.New("the notifier has no target")
}

// Sign is the signature header's value for a body: sha256=HEX of its
// HMAC-SHA256 under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify says whether a signature header is body's under secret (for
// receivers, and tests).
func Verify(secret, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

type webhook struct {
	spec   *v1.WebhookTarget
	lookup Lookup
	client *http.Client
}

func (w *webhook) Deliver(ctx context.Context, n store.Notification) error {
	target := w.spec.URL
	if w.spec.URLFrom != nil {
		u, err := w.lookup.secret(*w.spec.URLFrom)
		if err != nil {
			return fmt.Errorf("the webhook's URL (%s): %w", w.spec.URLFrom.Describe(), err)
		}
		target = u
	}
	body, err := json.Marshal(n)
	if err != nil {
		return err
	}
	headers := map[string]string{"Content-Type": "application/json", HeaderDelivery: n.ID, HeaderEvent: n.Event}
	if s := w.spec.SigningSecretFrom; s != nil {
		secret, err := w.lookup.secret(*s)
		if err != nil {
			return fmt.Errorf("the webhook's signing secret (%s): %w", s.Describe(), err)
		}
		headers[HeaderSignature] = Sign([]byte(secret), body)
	}
	return post(ctx, w.client, target, body, headers)
}

type slack struct {
	spec   *v1.SlackTarget
	lookup Lookup
	client *http.Client
}

func (s *slack) Deliver(ctx context.Context, n store.Notification) error {
	target, err := s.lookup.secret(*s.spec.URLFrom)
	if err != nil {
		return fmt.Errorf("the Slack webhook's URL (%s): %w", s.spec.URLFrom.Describe(), err)
	}
	body, err := json.Marshal(map[string]string{"text": Text(n)})
	if err != nil {
		return err
	}
	return post(ctx, s.client, target, body, map[string]string{"Content-Type": "application/json"})
}

// post sends body and takes any 2xx as the acknowledgement. Its errors
// never name the URL (it may hold a token).
func post(ctx context.Context, client *http.Client, target string, body []byte, headers map[string]string) error {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("the URL read is not an http:// or https:// URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return errors.New("the URL read cannot be requested")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return fmt.Errorf("POST to %s: %s", u.Hostname(), scrub(err.Error(), target))
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST to %s: answered %s: %s", u.Hostname(), resp.Status, scrub(strings.TrimSpace(string(answer)), target))
	}
	return nil
}

// scrub removes the URL and its path (where tokens live) from a message.
func scrub(msg, target string) string {
	msg = strings.ReplaceAll(msg, target, "<url>")
	if u, err := url.Parse(target); err == nil && len(u.Path) > 1 {
		msg = strings.ReplaceAll(msg, u.Path, "<path>")
	}
	return msg
}

type command struct {
	argv    []string
	timeout time.Duration
}

func (c *command) Deliver(ctx context.Context, n store.Notification) error {
	body, err := json.Marshal(n)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Stdin = bytes.NewReader(body)
	cmd.Env = append(os.Environ(), "RECONCILER_NOTIFICATION_ID="+n.ID, "RECONCILER_NOTIFICATION_EVENT="+n.Event)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return fmt.Errorf("%s: killed after %s", c.argv[0], c.timeout)
		}
		msg := strings.TrimSpace(store.Tail(out.String(), 300))
		if msg != "" {
			return fmt.Errorf("%s: %v: %s", c.argv[0], err, msg)
		}
		return fmt.Errorf("%s: %v", c.argv[0], err)
	}
	return nil
}

// Text is a notification as one Slack message (mrkdwn).
func Text(n store.Notification) string {
	icon := map[string]string{v1.NotifyRecovered: ":large_green_circle:", v1.NotifyBlocked: ":large_yellow_circle:", v1.NotifyHeld: ":large_yellow_circle:"}[n.Event]
	if icon == "" {
		icon = ":red_circle:"
	}
	var b strings.Builder
	if n.Summary != nil {
		fmt.Fprintf(&b, "%s *%d more notifications* held back by the rate limit since %s", icon, n.Summary.Count, n.Summary.Since.UTC().Format(time.RFC3339))
	} else {
		fmt.Fprintf(&b, "%s *%s* %s %s", icon, n.Name, kindWord(n.Kind), n.Event)
	}
	if n.Message != "" {
		b.WriteString("\n" + n.Message)
	}
	var ctx []string
	if n.Schedule != "" {
		ctx = append(ctx, "schedule "+n.Schedule)
	}
	if n.Run != "" {
		ctx = append(ctx, "run "+n.Run)
	}
	if n.Revision != "" {
		ctx = append(ctx, "revision "+n.Revision)
	}
	ctx = append(ctx, "id "+n.ID)
	b.WriteString("\n_" + strings.Join(ctx, " · ") + "_")
	return b.String()
}

func kindWord(kind string) string {
	if kind == "Source" {
		return "(source)"
	}
	return "(" + kind + ")"
}
