// Package dispatcher is a client of Spark's REST submission protocol (v1) as
// the MesosClusterDispatcher serves it: create, status and kill.
//
// Spark's answers are mapped to typed errors. An Error is Permanent when
// retrying cannot help (the request failed validation, the queue does not
// exist, the protocol version is wrong) and retryable otherwise (the
// dispatcher is not ready yet or at capacity, a 5xx, a network error).
// A driver the dispatcher does not know is not an error: Status reports
// DriverState NOT_FOUND, as Spark does.
package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sparkmesos/reconciler/render"
)

// Driver states of Spark's Mesos dispatcher. Failed, killed and succeeded
// drivers are all FINISHED: Status.TaskState tells which.
const (
	StateQueued   = "QUEUED"
	StateRunning  = "RUNNING"
	StateRetrying = "RETRYING"
	StateFinished = "FINISHED"
	StateNotFound = "NOT_FOUND"
)

// Error is a failed call.
type Error struct {
	Op         string // create, status or kill
	StatusCode int    // HTTP status; 0 for a network error
	Message    string
	// Permanent is true when retrying the same call cannot succeed.
	Permanent bool
	// NotSent is true when no connection was made (refused, no route, no
	// such host): the dispatcher cannot have acted on the call. A real
	// dispatcher's port is closed until it has registered with Mesos.
	NotSent bool
	Err     error
}

func (e *Error) Error() string {
	code := ""
	if e.StatusCode != 0 {
		code = fmt.Sprintf(" (HTTP %d)", e.StatusCode)
	}
	return fmt.Sprintf("dispatcher %s%s: %s", e.Op, code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err is an Error that retrying cannot fix.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// Client talks to one dispatcher.
type Client struct {
	base string
	http *http.Client
}

// New returns a client of the dispatcher at baseURL (http://host:7077).
// Spark's own client gives up after 10 s; so does this one by default.
func New(baseURL string, timeout time.Duration) *Client {
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), http: &http.Client{Timeout: timeout}}
}

type response struct {
	Action                 string `json:"action"`
	Message                string `json:"message"`
	ServerSparkVersion     string `json:"serverSparkVersion"`
	SubmissionID           string `json:"submissionId"`
	Success                *bool  `json:"success"`
	DriverState            string `json:"driverState"`
	HighestProtocolVersion string `json:"highestProtocolVersion"`
	// UnknownFields are the request's fields the server did not
	// recognise (RestServlet.findUnknownFields).
	UnknownFields []string `json:"unknownFields"`
}

// Created is a create's answer: the submission id, and the request's
// fields the dispatcher did not recognise (a newer client's, or a
// misspelling): it ignored them.
type Created struct {
	ID            string
	UnknownFields []string
}

// expect checks a 200 answer is the response the call asks for.
func expect(op string, r *response, action string) error {
	if r.Action != action {
		return &Error{Op: op, StatusCode: http.StatusOK, Permanent: true,
			Message: fmt.Sprintf("the dispatcher answered %q where Spark answers %s: is this a Spark dispatcher?", r.Action, action)}
	}
	return nil
}

// Create submits a driver and returns its submission id. The request must
// be resolved (no secret placeholders left).
func (c *Client) Create(ctx context.Context, req render.CreateSubmissionRequest) (Created, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return Created{}, &Error{Op: "create", Message: err.Error(), Permanent: true, Err: err}
	}
	resp, err := c.do(ctx, "create", http.MethodPost, "/v1/submissions/create", body)
	if err != nil {
		return Created{}, err
	}
	if err := expect("create", resp, "CreateSubmissionResponse"); err != nil {
		return Created{}, err
	}
	if resp.Success == nil || !*resp.Success || resp.SubmissionID == "" {
		// 200 with success false: "Scheduler is not ready to take requests"
		// or "Already reached maximum submission size"; both clear with time.
		return Created{}, &Error{Op: "create", StatusCode: http.StatusOK, Message: orDefault(resp.Message, "submission refused")}
	}
	return Created{ID: resp.SubmissionID, UnknownFields: resp.UnknownFields}, nil
}

// Status is a driver's state as the dispatcher reports it.
type Status struct {
	SubmissionID string
	// DriverState is QUEUED, RUNNING, RETRYING, FINISHED or NOT_FOUND.
	DriverState string
	// TaskState, Reason and TaskMessage are parsed from the Mesos task status
	// the dispatcher includes (TASK_FINISHED, TASK_FAILED, TASK_KILLED...);
	// empty when it includes none.
	TaskState   string
	Reason      string
	TaskMessage string
	// Message is the dispatcher's raw message.
	Message string
}

var (
	stateRE   = regexp.MustCompile(`(?m)^state: (TASK_[A-Z_]+)$`)
	reasonRE  = regexp.MustCompile(`(?m)^reason: (REASON_\w+)$`)
	messageRE = regexp.MustCompile(`(?m)^message: "(.*)"$`)
)

// Status asks for a driver's state.
func (c *Client) Status(ctx context.Context, submissionID string) (*Status, error) {
	resp, err := c.do(ctx, "status", http.MethodGet, "/v1/submissions/status/"+submissionID, nil)
	if err != nil {
		return nil, err
	}
	if err := expect("status", resp, "SubmissionStatusResponse"); err != nil {
		return nil, err
	}
	st := &Status{SubmissionID: submissionID, DriverState: resp.DriverState, Message: resp.Message}
	if m := stateRE.FindStringSubmatch(resp.Message); m != nil {
		st.TaskState = m[1]
	}
	if m := reasonRE.FindStringSubmatch(resp.Message); m != nil {
		st.Reason = m[1]
	}
	if m := messageRE.FindStringSubmatch(resp.Message); m != nil {
		st.TaskMessage = m[1]
	}
	if st.DriverState == "" {
		return nil, &Error{Op: "status", StatusCode: http.StatusOK, Message: "response without driverState"}
	}
	return st, nil
}

// KillResult is the dispatcher's answer to a kill.
type KillResult struct {
	// Killed is Spark's success: the driver was running, queued or retrying.
	Killed bool
	// Message is Spark's: "Killing running driver", "Removed driver while
	// it's still pending", "Driver already terminated", "Cannot find driver"...
	Message string
}

// Kill asks the dispatcher to kill a driver. A driver already finished or
// unknown is not an error: Killed is false and Message says why.
func (c *Client) Kill(ctx context.Context, submissionID string) (*KillResult, error) {
	resp, err := c.do(ctx, "kill", http.MethodPost, "/v1/submissions/kill/"+submissionID, nil)
	if err != nil {
		return nil, err
	}
	if err := expect("kill", resp, "KillSubmissionResponse"); err != nil {
		return nil, err
	}
	return &KillResult{Killed: resp.Success != nil && *resp.Success, Message: resp.Message}, nil
}

// do sends one request as Spark's RestSubmissionClient does (JSON with a
// "charset: utf-8" header) and maps failures to Errors.
func (c *Client) do(ctx context.Context, op, method, path string, body []byte) (*response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, &Error{Op: op, Message: err.Error(), Permanent: true, Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("charset", "utf-8")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var oe *net.OpError
		notSent := errors.As(err, &oe) && oe.Op == "dial"
		return nil, &Error{Op: op, Message: err.Error(), NotSent: notSent, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Message: err.Error(), Err: err}
	}
	var r response
	jsonErr := json.Unmarshal(raw, &r)
	switch {
	case resp.StatusCode == http.StatusOK && jsonErr == nil:
		return &r, nil
	case resp.StatusCode == 468:
		// Spark answers 468 to an unknown first path segment, and names
		// its own highest version: v1 itself when the path after /v1 was
		// wrong (the URL, not the protocol, is at fault).
		msg := fmt.Sprintf("the dispatcher speaks protocol %s, not v1: %s", r.HighestProtocolVersion, r.Message)
		if r.HighestProtocolVersion == "v1" {
			msg = "the dispatcher does not know this path (check the dispatcher URL's path): " + r.Message
		}
		return nil, &Error{Op: op, StatusCode: 468, Permanent: true, Message: msg}
	case resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotFound:
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Permanent: true, Message: summary(r.Message, raw)}
	case resp.StatusCode >= 500 && permanentServerError(raw):
		// Exceptions that a retry would raise again: an unknown queue, a
		// malformed property, an unknown message type.
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Permanent: true, Message: summary(r.Message, raw)}
	default:
		return nil, &Error{Op: op, StatusCode: resp.StatusCode, Message: summary(r.Message, raw)}
	}
}

// A 500 from Spark's REST server is an exception its servlet did not
// catch, in Jetty 9.4's error page (HTML: the client sends no Accept):
// the exception is in the CAUSED BY row (and the title). These come from
// parsing the request itself, so sending it again raises them again: an
// unknown queue (NoSuchElementException), a property that is not a number
// (NumberFormatException), an action Spark has no message class for
// (ClassNotFoundException), a bad argument (IllegalArgumentException).
// Any other 500 (another exception, a proxy's page) is retried.
var permanentExceptions = []string{"java.util.NoSuchElementException", "java.lang.NumberFormatException", "java.lang.ClassNotFoundException",
	"java.lang.IllegalArgumentException"}

var (
	causedByRE = regexp.MustCompile(`<tr><th>CAUSED BY:</th><td>([A-Za-z0-9_.$]+)`)
	titleRE    = regexp.MustCompile(`<title>Error 5\d\d ([A-Za-z0-9_.$]+)[:<]`)
)

// permanentServerError says the 500 page names one of permanentExceptions.
func permanentServerError(body []byte) bool {
	m := causedByRE.FindSubmatch(body)
	if m == nil {
		m = titleRE.FindSubmatch(body)
	}
	return m != nil && slices.Contains(permanentExceptions, string(m[1]))
}

// summary is the dispatcher's message, else the first line of the body
// with HTML tags removed.
func summary(msg string, raw []byte) string {
	if msg != "" {
		first, _, _ := strings.Cut(msg, "\n")
		return first
	}
	text := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(string(raw), " ")
	text = strings.Join(strings.Fields(text), " ")
	if len(text) > 300 {
		text = text[:300] + "..."
	}
	return text
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
