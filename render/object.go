package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"sigs.k8s.io/yaml"

	v1 "github.com/sparkmesos/reconciler/api/v1"
)

// Formats are the output formats of Rendered.Format.
var Formats = []string{"yaml", "json", "request", "submit", "properties", "conf"}

// Rendered is one object's launch specs, ready to be printed in any format.
type Rendered struct {
	Ref   v1.Ref
	File  string
	Doc   any // *Application, *Service or a role description
	Props map[string]string
	Req   *CreateSubmissionRequest
	app   *Application // for the spark-submit line, made only when asked for
}

// Submit is the spark-submit command line; empty for services.
func (r *Rendered) Submit() string {
	if r.app == nil {
		return ""
	}
	return ShellCommand(SubmitArgs(r.app)) + "\n"
}

// Object renders any kind. m supplies the objects it refers to (an
// application's Dispatcher).
func Object(obj v1.Object, m *v1.Manifests, opts Options) (*Rendered, error) {
	r := &Rendered{Ref: v1.RefOf(obj), File: obj.Origin().File}
	if opts.ShufflePorts == nil && m != nil {
		opts.ShufflePorts = ShufflePortsOf(m)
	}
	switch x := obj.(type) {
	case *v1.SparkApplication:
		if err := r.application(x, m, opts); err != nil {
			return nil, err
		}
	case *v1.Dispatcher:
		s, err := Dispatcher(x, opts)
		if err != nil {
			return nil, err
		}
		r.Doc, r.Props = s, s.Properties
	case *v1.ShuffleService:
		s, err := ShuffleService(x, AgentPlaceholder, opts)
		if err != nil {
			return nil, err
		}
		r.Doc, r.Props = s, s.Properties
	case *v1.ScheduledSparkApplication:
		// A dry run of one run: the time in its name and label is a placeholder.
		app := RunApplication(x, x.Metadata.Name+"-"+ScheduledTimePlaceholder, ScheduledTimePlaceholder)
		if err := r.application(app, m, opts); err != nil {
			return nil, err
		}
		r.app.Kind, r.app.Name = x.GetKind(), x.GetName()
	case *v1.MesosRole:
		r.Doc = map[string]any{"kind": x.GetKind(), "name": x.GetName(), "role": x.RoleName(), "spec": x.Spec}
	case *v1.Notifier:
		r.Doc = notifierDoc(x)
	default:
		return nil, fmt.Errorf("cannot render a %T", obj)
	}
	return r, nil
}

// ErrNotSubmitted: the object is not submitted to a dispatcher, so it has
// no submission request (-o request) or spark-submit command (-o submit).
var ErrNotSubmitted = errors.New("not submitted to a dispatcher: it has no submission request (see -o yaml)")

// Format prints the rendered object in one of Formats, preceded (except for
// json and request, which are pure JSON for jq and curl -d @-) by a comment
// line naming the object and its file.
func (r *Rendered) Format(format string) ([]byte, error) {
	var b bytes.Buffer
	if format == "request" && r.Req == nil {
		return nil, ErrNotSubmitted
	}
	if format != "json" && format != "request" {
		fmt.Fprintf(&b, "# %s (%s)\n", r.Ref, r.File)
	}
	switch format {
	case "json":
		b.Write(MarshalJSON(r.Doc))
	case "yaml":
		y, err := yaml.Marshal(r.Doc)
		if err != nil {
			return nil, err
		}
		b.Write(y)
	case "request":
		b.Write(MarshalJSON(r.Req))
	case "submit":
		submit := r.Submit()
		if submit == "" {
			fmt.Fprintf(&b, "# nothing to submit: a %s is not submitted to a dispatcher (see -o yaml)\n", r.Ref.Kind)
		}
		b.WriteString(submit)
	case "properties":
		b.WriteString(PropertiesText(r.Props))
	case "conf":
		b.WriteString(DefaultsConf(r.Props))
	default:
		return nil, fmt.Errorf("unknown output format %q", format)
	}
	return b.Bytes(), nil
}

// MarshalJSON indents v without escaping <, > and &, so that placeholders
// read as <redacted:...>. Render's values always encode.
func MarshalJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return []byte(fmt.Sprintf("{\"error\": %q}\n", err.Error()))
	}
	return b.Bytes()
}

// application renders an application into r.
func (r *Rendered) application(app *v1.SparkApplication, m *v1.Manifests, opts Options) error {
	var d *v1.Dispatcher
	if app.Spec.Dispatcher.Name != "" {
		d = m.Dispatcher(app.Spec.Dispatcher.Name)
	}
	a, err := SparkApplication(app, d, opts)
	if err != nil {
		return err
	}
	r.Doc, r.Props, r.Req, r.app = a, a.Request.SparkProperties, &a.Request, a
	return nil
}

// ScheduledTimePlaceholder stands for a run's scheduled time in a dry run
// of a schedule.
const ScheduledTimePlaceholder = "SCHEDULED-TIME"

// RunApplication is the SparkApplication of one run of a schedule: its
// template, named name, its driver and executors labelled with the
// schedule and the scheduled time (ScheduledTimeLayout).
func RunApplication(s *v1.ScheduledSparkApplication, name, scheduled string) *v1.SparkApplication {
	app := s.RunApplication(name)
	labels := map[string]string{LabelSchedule: s.Metadata.Name, LabelScheduledTime: scheduled}
	app.Spec.Driver.Labels = merge(app.Spec.Driver.Labels, labels)
	app.Spec.Executor.Labels = merge(app.Spec.Executor.Labels, labels)
	return app
}

// notifierDoc is what a Notifier sends where, with its secrets as the
// sources they are read from (a URL from urlFrom is never resolved here).
func notifierDoc(n *v1.Notifier) map[string]any {
	sp := n.Spec
	events := sp.Events
	if len(events) == 0 {
		events = v1.NotifyEvents
	}
	doc := map[string]any{"kind": n.GetKind(), "name": n.GetName(), "events": events,
		"blockedFor":     v1.DurationOr(sp.BlockedFor, v1.DefaultBlockedFor).String(),
		"recoveredAfter": v1.DurationOr(sp.RecoveredAfter, v1.DefaultRecoveredAfter).String(),
		"dedupWindow":    v1.DurationOr(sp.DedupWindow, v1.DefaultDedupWindow).String()}
	count, per := v1.DefaultRateCount, v1.DefaultRatePer
	if r := sp.RateLimit; r != nil {
		count, per = r.Count, v1.DurationOr(r.Per, v1.DefaultRatePer)
	}
	doc["rateLimit"] = fmt.Sprintf("%d per %s", count, per)
	if sp.Selector != nil && len(sp.Selector.MatchLabels) > 0 {
		doc["selector"] = sp.Selector.MatchLabels
	}
	switch {
	case sp.Webhook != nil:
		t := map[string]any{"type": "webhook", "method": "POST", "contentType": "application/json"}
		if sp.Webhook.URL != "" {
			t["url"] = sp.Webhook.URL
		} else {
			t["url"] = "<from " + sp.Webhook.URLFrom.Describe() + ">"
		}
		if s := sp.Webhook.SigningSecretFrom; s != nil {
			t["signature"] = "X-Reconciler-Signature-256: sha256=HMAC(<from " + s.Describe() + ">, body)"
		}
		doc["target"] = t
	case sp.Slack != nil:
		doc["target"] = map[string]any{"type": "slack", "method": "POST", "url": "<from " + sp.Slack.URLFrom.Describe() + ">"}
	case sp.Command != nil:
		doc["target"] = map[string]any{"type": "command", "argv": sp.Command.Argv, "stdin": "the notification as JSON",
			"timeout": v1.DurationOr(sp.Command.Timeout, v1.DefaultCommandTimeout).String()}
	}
	return doc
}
