// Package mesos talks to the Mesos master: the v1 operator API through
// mesos-go's HTTP client and types (so what is sent is what Mesos expects),
// and master detection from mesos://host:port or
// mesos://zk://host1:2181,host2:2181/mesos.
//
// One GET_STATE call gives the reconciler everything it observes of the
// cluster: tasks, frameworks and agents. Calls that reach a master that is
// not leading (307) are re-sent to the leader after detecting it again; the
// redirect is not followed blindly, because Go's client would drop the
// Authorization header when the host changes. Network errors and 5xx are
// retried with backoff; 4xx are not. Credentials are never logged.
package mesos

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	mesoslib "github.com/mesos/mesos-go/api/v1/lib"
	"github.com/mesos/mesos-go/api/v1/lib/encoding"
	"github.com/mesos/mesos-go/api/v1/lib/encoding/codecs"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/apierrors"
	"github.com/mesos/mesos-go/api/v1/lib/httpcli/httpmaster"
	"github.com/mesos/mesos-go/api/v1/lib/master"
	"github.com/mesos/mesos-go/api/v1/lib/master/calls"
	"github.com/mesos/mesos-go/api/v1/lib/quota"
)

// Options configure a Client.
type Options struct {
	// Master is mesos://host:port, mesos://zk://hosts/path, or an http(s) URL.
	Master string
	// Principal and Secret enable HTTP basic authentication.
	Principal, Secret string
	// CAFile verifies the master's TLS certificate (https masters).
	CAFile string
	// Timeout of one call. Default 10s.
	Timeout time.Duration
	// Retries of a retryable failure. Default 3.
	Retries int
	// Backoff before the first retry, doubled each time. Default 200ms.
	Backoff time.Duration
}

// Client is a Mesos operator API client.
type Client struct {
	opts     Options
	detector Detector
	tls      *tls.Config
	// leader is the base URL of the last known leader; passes, the
	// framework and the event stream share the client.
	mu     sync.Mutex
	leader string
}

// New builds a client; no connection is made until the first call.
func New(opts Options) (*Client, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Retries == 0 {
		opts.Retries = 3
	}
	if opts.Backoff == 0 {
		opts.Backoff = 200 * time.Millisecond
	}
	det, err := NewDetector(opts.Master)
	if err != nil {
		return nil, err
	}
	c := &Client{opts: opts, detector: det}
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mesos CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mesos CA file %s holds no PEM certificate", opts.CAFile)
		}
		c.tls = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return c, nil
}

// ErrNotLeader: the master asked is not the leader.
var ErrNotLeader = errors.New("mesos master is not the leader")

// Frameworks lists the frameworks the master has registered and not yet
// removed (GET_FRAMEWORKS: a small answer, unlike GET_STATE).
func (c *Client) Frameworks(ctx context.Context) ([]RegisteredFramework, error) {
	var resp master.Response
	if err := c.call(ctx, calls.GetFrameworks(), &resp); err != nil {
		return nil, fmt.Errorf("mesos GET_FRAMEWORKS: %w", err)
	}
	var out []RegisteredFramework
	for _, f := range resp.GetGetFrameworks().GetFrameworks() {
		out = append(out, RegisteredFramework{ID: f.FrameworkInfo.GetID().GetValue(), Name: f.FrameworkInfo.Name,
			Principal: f.FrameworkInfo.GetPrincipal(), Active: f.Active, Connected: f.Connected,
			Registered: time.Unix(0, f.GetRegisteredTime().GetNanoseconds())})
	}
	return out, nil
}

// Leader returns the base URL of the leading master (detecting it if needed).
func (c *Client) Leader(ctx context.Context) (string, error) {
	c.mu.Lock()
	l := c.leader
	c.mu.Unlock()
	if l != "" {
		return l, nil
	}
	l, err := c.detector.Leader(ctx)
	if err != nil {
		return "", err
	}
	c.setLeader(l)
	return l, nil
}

func (c *Client) setLeader(l string) {
	c.mu.Lock()
	c.leader = l
	c.mu.Unlock()
}

// redetect forgets base as the leader and asks it (or the detector)
// where the leader is now.
func (c *Client) redetect(ctx context.Context, base string) {
	c.setLeader("")
	if l, err := c.detector.Redirect(ctx, base, c.redirectClient()); err == nil {
		c.setLeader(l)
	}
}

// The codecs: answers are decoded from protobuf, where mesos-go's gogo
// decoders keep enum values and skip fields newer than its protos (a
// Mesos 1.12 master advertises capabilities such as QUOTA_V2 that
// mesos-go's JSON decoder refuses), except GET_STATE, which the lean JSON
// decoder of Snapshot reads field by field and which tolerates the same.
var (
	protobufCodec = codecs.ByMediaType[codecs.MediaTypeProtobuf]
	jsonCodec     = codecs.ByMediaType[codecs.MediaTypeJSON]
)

func (c *Client) httpClient(base string, codec encoding.Codec) *httpcli.Client {
	opts := []httpcli.ConfigOpt{httpcli.Timeout(c.opts.Timeout)}
	if c.opts.Principal != "" {
		opts = append(opts, httpcli.BasicAuth(c.opts.Principal, c.opts.Secret))
	}
	if c.tls != nil {
		opts = append(opts, httpcli.TLSConfig(c.tls))
	}
	cli := httpcli.New(
		httpcli.Endpoint(base+"/api/v1"),
		httpcli.Codec(codec),
		httpcli.Do(httpcli.With(opts...)),
	)
	if codec.Type == codecs.MediaTypeJSON {
		cli.With(httpcli.HandleResponse(streamingResponses(cli)))
	}
	return cli
}

// call sends one non-streaming operator call to the leader, re-detecting the
// leader on a redirect and retrying retryable failures with backoff, and
// decodes the answer into out (nil: no answer expected).
func (c *Client) call(ctx context.Context, call *master.Call, out encoding.Unmarshaler) error {
	backoff := c.opts.Backoff
	var last error
	for attempt := 0; attempt <= c.opts.Retries; attempt++ {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff *= 2
		}
		lctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
		base, err := c.Leader(lctx)
		cancel()
		if err != nil {
			// Detection waits on its own (ZooKeeper's session timeout):
			// trying it again only multiplies the wait.
			return fmt.Errorf("%w at %s: %w", ErrUnreachable, c.opts.Master, err)
		}
		err = c.send(ctx, base, call, out)
		if err == nil {
			return nil
		}
		last = err
		switch {
		case errors.Is(err, ErrNotLeader):
			c.redetect(ctx, base)
		case !retryable(err):
			return err
		}
	}
	var me *MasterError
	if !errors.As(last, &me) && !errors.Is(last, ErrNotLeader) && ctx.Err() == nil {
		return fmt.Errorf("%w at %s (tried %d times): %w", ErrUnreachable, c.opts.Master, c.opts.Retries+1, last)
	}
	return last
}

// ErrUnreachable: no Mesos master answered (detection failed, or every
// attempt failed in transport).
var ErrUnreachable = errors.New("cannot reach the Mesos master")

func (c *Client) redirectClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.tls != nil {
		tr.TLSClientConfig = c.tls
	}
	return &http.Client{Timeout: c.opts.Timeout, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (c *Client) send(ctx context.Context, base string, call *master.Call, out encoding.Unmarshaler) error {
	codec := protobufCodec
	if _, lean := out.(streamUnmarshaler); lean {
		codec = jsonCodec
	}
	sender := httpmaster.NewSender(c.httpClient(base, codec).Send)
	resp, err := sender.Send(ctx, calls.NonStreaming(call))
	if resp != nil {
		defer resp.Close()
	}
	if err != nil {
		if apierrors.CodeNotLeader.Matches(err) {
			return fmt.Errorf("%s: %w", base, ErrNotLeader)
		}
		return masterError(err)
	}
	if out == nil {
		return nil
	}
	if err := resp.Decode(out); err != nil {
		return fmt.Errorf("decode %s response: %w", call.Type, err)
	}
	return nil
}

// MasterError is an error answer of the master: its status and its text
// (mesos-go prefixes the scheduler API's meaning of the code, such as "no
// subscription established" for any 403, which misleads on operator calls).
type MasterError struct {
	Code int
	Text string
}

func (e *MasterError) Error() string {
	if e.Text == "" {
		return fmt.Sprintf("%d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("%d %s: %s", e.Code, http.StatusText(e.Code), e.Text)
}

// masterError turns mesos-go's status errors into MasterErrors.
func masterError(err error) error {
	for code := 300; code < 600; code++ {
		if c := apierrors.Code(code); c.Matches(err) {
			text := strings.TrimPrefix(strings.TrimPrefix(err.Error(), apierrors.ErrorTable[c]), ": ")
			return &MasterError{Code: code, Text: strings.TrimSpace(text)}
		}
	}
	return err
}

// permanent are the answers that retrying cannot change.
var permanent = []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusMethodNotAllowed,
	http.StatusNotAcceptable, http.StatusConflict, http.StatusUnsupportedMediaType, http.StatusNotImplemented}

// retryable: network errors, 5xx, 429 and 404 (a master still starting) are;
// bad requests, authentication and media-type refusals are not.
func retryable(err error) bool {
	var me *MasterError
	if !errors.As(err, &me) {
		return true
	}
	return !slices.Contains(permanent, me.Code)
}

// Weights returns the roles' weights the master has been given (roles not
// listed weigh 1).
func (c *Client) Weights(ctx context.Context) (map[string]float64, error) {
	var resp master.Response
	if err := c.call(ctx, calls.GetWeights(), &resp); err != nil {
		return nil, fmt.Errorf("mesos GET_WEIGHTS: %w", err)
	}
	out := map[string]float64{}
	for _, w := range resp.GetGetWeights().GetWeightInfos() {
		out[w.GetRole()] = w.Weight
	}
	return out, nil
}

// UpdateWeights sets roles' weights.
func (c *Client) UpdateWeights(ctx context.Context, weights map[string]float64) error {
	roles := make([]string, 0, len(weights))
	for r := range weights {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	var infos []mesoslib.WeightInfo
	for _, r := range roles {
		infos = append(infos, mesoslib.WeightInfo{Role: &r, Weight: weights[r]})
	}
	if err := c.call(ctx, calls.UpdateWeights(infos...), nil); err != nil {
		return fmt.Errorf("mesos UPDATE_WEIGHTS: %w", err)
	}
	return nil
}

// RoleQuota is a role's quota: scalar guarantees and limits by resource
// name (cpus, mem, disk, gpus).
type RoleQuota struct {
	Guarantees, Limits map[string]float64
}

// Quotas returns the roles' quotas (roles not listed have none).
func (c *Client) Quotas(ctx context.Context) (map[string]RoleQuota, error) {
	var resp master.Response
	if err := c.call(ctx, calls.GetQuota(), &resp); err != nil {
		return nil, fmt.Errorf("mesos GET_QUOTA: %w", err)
	}
	out := map[string]RoleQuota{}
	for _, qc := range resp.GetGetQuota().Status.Configs {
		q := RoleQuota{Guarantees: map[string]float64{}, Limits: map[string]float64{}}
		for k, v := range qc.Guarantees {
			q.Guarantees[k] = v.Value
		}
		for k, v := range qc.Limits {
			q.Limits[k] = v.Value
		}
		out[qc.Role] = q
	}
	return out, nil
}

// UpdateQuota sets a role's quota (Mesos 1.9+ UPDATE_QUOTA); an empty
// quota resets the role to no guarantee and no limit. force skips Mesos'
// check that the guarantees of all roles fit the cluster's capacity.
func (c *Client) UpdateQuota(ctx context.Context, role string, q RoleQuota, force bool) error {
	qc := quota.QuotaConfig{Role: role, Guarantees: map[string]mesoslib.Value_Scalar{}, Limits: map[string]mesoslib.Value_Scalar{}}
	for k, v := range q.Guarantees {
		qc.Guarantees[k] = mesoslib.Value_Scalar{Value: v}
	}
	for k, v := range q.Limits {
		qc.Limits[k] = mesoslib.Value_Scalar{Value: v}
	}
	call := &master.Call{Type: master.Call_UPDATE_QUOTA, UpdateQuota: &master.Call_UpdateQuota{QuotaConfigs: []quota.QuotaConfig{qc}}}
	if force {
		call.UpdateQuota.Force = &force
	}
	if err := c.call(ctx, call, nil); err != nil {
		return fmt.Errorf("mesos UPDATE_QUOTA %s: %w", role, err)
	}
	return nil
}
