package mesos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// An agent serves its tasks' sandboxes through its /files API
// (files/read here): Mesos attaches every executor's directory
// under the virtual path SandboxPath, and keeps it readable after the
// executor ends, until the agent's garbage collection removes it.

// SandboxPath is the agent's virtual path of an executor's latest run
// (a command task's executor id is its task id).
func SandboxPath(frameworkID, executorID string) string {
	return "/frameworks/" + frameworkID + "/executors/" + executorID + "/runs/latest"
}

// MaxRead is what one files/read answers at most: 16 pages.
const MaxRead = 16 * 4096

// ErrFileNotFound: the agent has no such file (never written, or its
// sandbox was garbage-collected).
var ErrFileNotFound = errors.New("no such file in the sandbox (gone, or garbage-collected by the agent)")

// AgentURL is the base URL of an agent's HTTP API, with the master's
// scheme (agents of a TLS cluster serve TLS too).
func (c *Client) AgentURL(a Agent) string {
	scheme := "http"
	if c.tls != nil || strings.HasPrefix(c.opts.Master, "https://") {
		scheme = "https"
	}
	port := a.Port
	if port == 0 {
		port = 5051
	}
	return scheme + "://" + net.JoinHostPort(a.Hostname, strconv.Itoa(port))
}

func (c *Client) agentGet(ctx context.Context, agentURL, endpoint string, q url.Values, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, agentURL+endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if c.opts.Principal != "" {
		req.SetBasicAuth(c.opts.Principal, c.opts.Secret)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.tls != nil {
		tr.TLSClientConfig = c.tls
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fmt.Errorf("agent %s: %w", agentURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4*MaxRead))
	if err != nil {
		return fmt.Errorf("agent %s%s: %w", agentURL, endpoint, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s: %w", q.Get("path"), ErrFileNotFound)
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("agent %s%s: %d %s: %s", agentURL, endpoint, resp.StatusCode, http.StatusText(resp.StatusCode), strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("agent %s%s: decode: %w", agentURL, endpoint, err)
	}
	return nil
}

// ReadFile reads a file of an agent's sandbox from offset (-1: answers
// the size and no data), at most length bytes (-1: to the end; the
// agent caps one read at MaxRead). It returns the offset the data
// starts at.
func (c *Client) ReadFile(ctx context.Context, agentURL, path string, offset, length int64) (int64, []byte, error) {
	q := url.Values{"path": {path}, "offset": {strconv.FormatInt(offset, 10)}, "length": {strconv.FormatInt(length, 10)}}
	var r struct {
		Offset int64  `json:"offset"`
		Data   string `json:"data"`
	}
	if err := c.agentGet(ctx, agentURL, "/files/read", q, &r); err != nil {
		return 0, nil, err
	}
	return r.Offset, []byte(r.Data), nil
}

// Tail reads the last n bytes of a sandbox file (fewer when it is
// shorter) and returns them with the file's size.
func (c *Client) Tail(ctx context.Context, agentURL, path string, n int64) ([]byte, int64, error) {
	size, _, err := c.ReadFile(ctx, agentURL, path, -1, -1)
	if err != nil {
		return nil, 0, err
	}
	var out []byte
	for off := max(size-n, 0); off < size; {
		_, data, err := c.ReadFile(ctx, agentURL, path, off, min(size-off, MaxRead))
		if err != nil {
			return nil, 0, err
		}
		if len(data) == 0 {
			break
		}
		out = append(out, data...)
		off += int64(len(data))
	}
	return out, size, nil
}

// Follow copies a sandbox file to w from offset as it grows, polling
// every interval, until ended reports true and the file has been read to
// its end, or ctx ends.
func (c *Client) Follow(ctx context.Context, agentURL, path string, offset int64, w io.Writer, interval time.Duration, ended func() bool) error {
	for {
		done := ended() // asked first: what was written before the end is still read
		for {
			_, data, err := c.ReadFile(ctx, agentURL, path, offset, MaxRead)
			if err != nil {
				return err
			}
			if len(data) == 0 {
				break
			}
			if _, err := w.Write(data); err != nil {
				return err
			}
			offset += int64(len(data))
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
