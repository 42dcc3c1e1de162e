package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/sparkmesos/reconciler/api/v1"
	"github.com/sparkmesos/reconciler/store"
)

func lookupFrom(m map[string]string) Lookup {
	return func(v v1.ValueSource) (string, error) {
		if s, ok := m[v.Env]; ok {
			return s, nil
		}
		return "", errors.New("not set")
	}
}

var note = store.Notification{ID: "n-1", Event: v1.NotifyFailed, Kind: "SparkApplication", Name: "pi", Class: "application", Message: "driver d-1 ended: TASK_FAILED"}

func TestWebhookSignsAndErrorsHideTheURL(t *testing.T) {
	var got *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, body = r, nil
		body, _ = io.ReadAll(r.Body)
		if strings.Contains(r.URL.Path, "down") {
			http.Error(w, "no such hook "+r.URL.Path, http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	lookup := lookupFrom(map[string]string{"URL": srv.URL + "/hook/tok3n", "DOWN": srv.URL + "/down/tok3n", "KEY": "k\n", "GONE": "http://127.0.0.1:1/x/tok3n"})
	target, _ := New(&v1.NotifierSpec{Webhook: &v1.WebhookTarget{URLFrom: &v1.ValueSource{Env: "URL"}, SigningSecretFrom: &v1.ValueSource{Env: "KEY"}}}, lookup, nil)
	if err := target.Deliver(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	if !Verify([]byte("k"), body, got.Header.Get(HeaderSignature)) || got.Header.Get(HeaderDelivery) != "n-1" || got.Header.Get(HeaderEvent) != "Failed" {
		t.Errorf("headers %v", got.Header)
	}
	var back store.Notification
	if err := json.Unmarshal(body, &back); err != nil || back.ID != "n-1" || back.Name != "pi" {
		t.Errorf("body %s: %v", body, err)
	}
	for _, env := range []string{"DOWN", "GONE"} {
		target, _ := New(&v1.NotifierSpec{Webhook: &v1.WebhookTarget{URLFrom: &v1.ValueSource{Env: env}}}, lookup, &http.Client{Timeout: time.Second})
		err := target.Deliver(context.Background(), note)
		if err == nil || strings.Contains(err.Error(), "tok3n") {
			t.Errorf("%s: the error %v names the URL's token", env, err)
		}
	}
}

func TestSlackText(t *testing.T) {
	var text string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b struct{ Text string }
		_ = json.NewDecoder(r.Body).Decode(&b)
		text = b.Text
	}))
	defer srv.Close()
	target, _ := New(&v1.NotifierSpec{Slack: &v1.SlackTarget{URLFrom: &v1.ValueSource{Env: "S"}}}, lookupFrom(map[string]string{"S": srv.URL + "/services/x\n"}), nil)
	n := note
	n.Run = "d-1"
	if err := target.Deliver(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	if want := ":red_circle: *pi* (SparkApplication) Failed\ndriver d-1 ended: TASK_FAILED\n_run d-1 · id n-1_"; text != want {
		t.Errorf("text %q, want %q", text, want)
	}
}

func TestCommandGetsTheNotificationOnStdin(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "got")
	script := filepath.Join(dir, "page")
	if err := os.WriteFile(script, []byte("#!/bin/sh\ncat > "+out+"\necho \"$RECONCILER_NOTIFICATION_ID\" >> "+out+"\n[ \"$1\" = ok ] || { echo refused >&2; exit 3; }\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	target, _ := New(&v1.NotifierSpec{Command: &v1.CommandTarget{Argv: []string{script, "ok"}}}, nil, nil)
	if err := target.Deliver(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(b), `{"id":"n-1","event":"Failed"`) || !strings.HasSuffix(string(b), "n-1\n") {
		t.Errorf("the command got %q", b)
	}
	target, _ = New(&v1.NotifierSpec{Command: &v1.CommandTarget{Argv: []string{script, "no"}}}, nil, nil)
	if err := target.Deliver(context.Background(), note); err == nil || !strings.Contains(err.Error(), "exit status 3: refused") {
		t.Errorf("a failing command: %v", err)
	}
}
