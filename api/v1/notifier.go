package v1

import (
	"net/url"
	"path"
	"slices"
	"strings"
)

// KindNotifier is the kind of a notification target.
const KindNotifier = "Notifier"

// Notifier tells people when applications fail, give up, pass a deadline
// or stay blocked, when the source fails to sync or a manifest is held,
// and when each of those recovers: one target (a webhook, a Slack-style
// incoming webhook, or a command), the events it wants, and the
// applications it is for.
//
// Notifier is a kind, like the others, rather than a section of a config
// file: it lives in the same repository as the applications it watches,
// is reviewed and rolled out the same way, and a team adds its own
// Notifier for its own labels without touching anyone else's.
type Notifier struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta   `json:"metadata"`
	Spec     NotifierSpec `json:"spec"`
	origin   Origin
}

// The events a Notifier can ask for.
const (
	// NotifyFailed: a run of an application ended in failure (any class
	// but deadline).
	NotifyFailed = "Failed"
	// NotifyRetriesExhausted: an application will not be run again (its
	// restart policy gave up, or the dispatcher rejected its spec).
	NotifyRetriesExhausted = "RetriesExhausted"
	// NotifyDeadlineExceeded: a run was killed by its startDeadline or
	// activeDeadline.
	NotifyDeadlineExceeded = "DeadlineExceeded"
	// NotifyBlocked: an application has been blocked (no agent, its
	// managed dispatcher down, a stuck dispatcher...) for blockedFor.
	NotifyBlocked = "Blocked"
	// NotifySyncFailed: the source (a Git repository) failed to sync; the
	// last good revision stays in force.
	NotifySyncFailed = "SyncFailed"
	// NotifyHeld: a manifest failed to load; what it declared is held.
	NotifyHeld = "Held"
	// NotifyRecovered: an object that was notified about is well again (a
	// run succeeded or has run for recoveredAfter, the source synced, the
	// manifests load).
	NotifyRecovered = "Recovered"
)

// NotifyEvents are the events a Notifier can ask for, in the order they
// are documented.
var NotifyEvents = []string{NotifyFailed, NotifyRetriesExhausted, NotifyDeadlineExceeded, NotifyBlocked, NotifySyncFailed, NotifyHeld, NotifyRecovered}

// Notifier defaults.
var (
	DefaultBlockedFor     = Duration{Micros: 10 * 60 * 1e6}
	DefaultRecoveredAfter = Duration{Micros: 60 * 1e6}
	DefaultDedupWindow    = Duration{Micros: 60 * 60 * 1e6}
	DefaultRatePer        = Duration{Micros: 60 * 1e6}
	DefaultCommandTimeout = Duration{Micros: 30 * 1e6}
)

// DefaultRateCount is how many notifications a Notifier sends per
// rateLimit.per by default.
const DefaultRateCount = 20

// NotifierSpec is what a Notifier asks for.
type NotifierSpec struct {
	// Webhook POSTs each notification as JSON, signed with HMAC-SHA256 when
	// signingSecretFrom is set. Exactly one of webhook, slack and command.
	Webhook *WebhookTarget `json:"webhook,omitempty"`
	// Slack POSTs each notification to a Slack-compatible incoming webhook
	// ({"text": ...}; Mattermost and Rocket.Chat read the same).
	Slack *SlackTarget `json:"slack,omitempty"`
	// Command runs a program with the notification as JSON on its stdin
	// (for mail or paging tools).
	Command *CommandTarget `json:"command,omitempty"`
	// Events are the events sent. Default: all of Failed, RetriesExhausted,
	// DeadlineExceeded, Blocked, SyncFailed, Held, Recovered.
	Events []string `json:"events,omitempty" jsonschema:"uniqueItems=true"`
	// Selector chooses the applications notified about by their labels
	// (a schedule's runs by the schedule's labels). Default: all. The
	// source's events (SyncFailed, Held) carry no labels and are sent to
	// every Notifier that asks for them.
	Selector *Selector `json:"selector,omitempty"`
	// BlockedFor is how long an application stays blocked before Blocked
	// is sent. Default: 10m.
	BlockedFor *Duration `json:"blockedFor,omitempty"`
	// RecoveredAfter is how long a restarted run must keep running to be
	// taken as recovered (a run that succeeds recovers at once).
	// Default: 1m.
	RecoveredAfter *Duration `json:"recoveredAfter,omitempty"`
	// DedupWindow: the same event of the same object (the same failure
	// class again, the source still failing) is not sent again within
	// this window, unless the object recovered in between. Default: 1h.
	DedupWindow *Duration `json:"dedupWindow,omitempty"`
	// RateLimit bounds what is sent in a flood; what is over the limit is
	// sent as one summary when the window ends. Default: 20 per 1m.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
}

// WebhookTarget is a generic JSON webhook.
type WebhookTarget struct {
	// URL is the address POSTed to (http or https). When it holds a
	// token, give it with urlFrom instead: urlFrom is never printed.
	URL     string       `json:"url,omitempty"`
	URLFrom *ValueSource `json:"urlFrom,omitempty"`
	// SigningSecretFrom is the shared secret of the signature header
	// X-Reconciler-Signature-256: sha256=HEX, the HMAC-SHA256 of the body,
	// as GitHub signs its webhooks.
	SigningSecretFrom *ValueSource `json:"signingSecretFrom,omitempty"`
}

// SlackTarget is a Slack-compatible incoming webhook. Its URL is a secret
// (whoever has it can post), so it is read from the environment or a file.
type SlackTarget struct {
	URLFrom *ValueSource `json:"urlFrom"`
}

// CommandTarget is a program run once per notification.
type CommandTarget struct {
	// Argv is the program (an absolute path) and its arguments; no shell.
	Argv []string `json:"argv"`
	// Timeout kills a run that takes longer (a failed delivery, retried).
	// Default: 30s.
	Timeout *Duration `json:"timeout,omitempty"`
}

// Selector chooses objects by label.
type Selector struct {
	// MatchLabels: every pair must be among the object's labels.
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// Matches says whether labels satisfy the selector (a nil selector
// matches everything).
func (s *Selector) Matches(labels map[string]string) bool {
	if s == nil {
		return true
	}
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// RateLimit is at most Count notifications per Per.
type RateLimit struct {
	Count int       `json:"count"`
	Per   *Duration `json:"per,omitempty"`
}

// Wants says whether the Notifier asks for an event.
func (n *NotifierSpec) Wants(event string) bool {
	return len(n.Events) == 0 || slices.Contains(n.Events, event)
}

// TargetType is webhook, slack or command.
func (n *NotifierSpec) TargetType() string {
	switch {
	case n.Webhook != nil:
		return "webhook"
	case n.Slack != nil:
		return "slack"
	case n.Command != nil:
		return "command"
	}
	return ""
}

func (o *Notifier) GetKind() string      { return KindNotifier }
func (o *Notifier) GetName() string      { return o.Metadata.Name }
func (o *Notifier) GetMeta() *ObjectMeta { return &o.Metadata }
func (o *Notifier) Origin() *Origin      { return &o.origin }

var _ Object = (*Notifier)(nil)

func validateNotifier(n *NotifierSpec, at Path, s problemSink) {
	targets := boolInt(n.Webhook != nil) + boolInt(n.Slack != nil) + boolInt(n.Command != nil)
	if targets != 1 {
		s.errorf(at, "set exactly one target: webhook (url or urlFrom), slack (urlFrom) or command (argv)")
	}
	if w := n.Webhook; w != nil {
		wp := at.Field("webhook")
		switch {
		case (w.URL != "") == (w.URLFrom != nil):
			s.errorf(wp, "set exactly one of url or urlFrom (env or file: for a URL that holds a token)")
		case w.URL != "":
			validateHookURL(w.URL, wp.Field("url"), s)
		default:
			validateValueSource(w.URLFrom, wp.Field("urlFrom"), s)
		}
		if w.SigningSecretFrom != nil {
			validateValueSource(w.SigningSecretFrom, wp.Field("signingSecretFrom"), s)
		}
	}
	if sl := n.Slack; sl != nil {
		if sl.URLFrom == nil {
			s.errorf(at.Field("slack").Field("urlFrom"), "required: the incoming webhook's URL is a secret, read from env or file")
		} else {
			validateValueSource(sl.URLFrom, at.Field("slack").Field("urlFrom"), s)
		}
	}
	if c := n.Command; c != nil {
		cp := at.Field("command").Field("argv")
		switch {
		case len(c.Argv) == 0:
			s.errorf(cp, "required: the program (an absolute path) and its arguments")
		case !path.IsAbs(c.Argv[0]):
			s.errorf(cp.Index(0), "%q must be an absolute path (no shell and no PATH lookup)", c.Argv[0])
		}
		positive(c.Timeout, at.Field("command").Field("timeout"), s)
	}
	seen := map[string]bool{}
	for i, e := range n.Events {
		switch {
		case !slices.Contains(NotifyEvents, e):
			s.errorf(at.Field("events").Index(i), "unknown event %q: use %s", e, strings.Join(NotifyEvents, ", "))
		case seen[e]:
			s.errorf(at.Field("events").Index(i), "%q is listed twice", e)
		}
		seen[e] = true
	}
	positive(n.BlockedFor, at.Field("blockedFor"), s)
	positive(n.RecoveredAfter, at.Field("recoveredAfter"), s)
	positive(n.DedupWindow, at.Field("dedupWindow"), s)
	if r := n.RateLimit; r != nil {
		if r.Count < 1 {
			s.errorf(at.Field("rateLimit").Field("count"), "must be at least 1")
		}
		positive(r.Per, at.Field("rateLimit").Field("per"), s)
	}
	if sel := n.Selector; sel != nil {
		for k := range sel.MatchLabels {
			if k == "" {
				s.errorf(at.Field("selector").Field("matchLabels"), "a label key must not be empty")
			}
		}
	}
}

func positive(d *Duration, at Path, s problemSink) {
	if d != nil && d.Micros <= 0 {
		s.errorf(at, "must be more than 0")
	}
}

// validateHookURL is an http(s) URL that holds no credentials: a URL
// with a token is given with urlFrom, which is never printed.
func validateHookURL(raw string, at Path, s problemSink) {
	validateHTTPURL(raw, at, s)
	if u, err := url.Parse(raw); err == nil && (u.User != nil || u.RawQuery != "") {
		s.errorf(at, "this URL holds credentials or a query (a token?): give it with urlFrom (env or file) so that it is never printed")
	}
}

// DurationOr is d, or def when d is nil.
func DurationOr(d *Duration, def Duration) Duration {
	if d == nil {
		return def
	}
	return *d
}
