package mesos

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// Detector finds the leading master.
type Detector interface {
	// Leader returns the leader's base URL (http://host:port).
	Leader(ctx context.Context) (string, error)
	// Redirect finds the leader after base answered that it does not lead.
	Redirect(ctx context.Context, base string, client *http.Client) (string, error)
}

// NewDetector understands mesos://host:port, http(s)://host:port and
// mesos://zk://[user:pass@]host1:2181,host2:2181/path.
func NewDetector(master string) (Detector, error) {
	switch {
	case strings.HasPrefix(master, "mesos://zk://"):
		return newZKDetector(strings.TrimPrefix(master, "mesos://"))
	case strings.HasPrefix(master, "zk://"):
		return newZKDetector(master)
	case strings.HasPrefix(master, "mesos://"):
		return staticDetector{base: "http://" + strings.TrimSuffix(strings.TrimPrefix(master, "mesos://"), "/")}, nil
	case strings.HasPrefix(master, "http://"), strings.HasPrefix(master, "https://"):
		return staticDetector{base: strings.TrimSuffix(master, "/")}, nil
	}
	return nil, fmt.Errorf("%q is not a Mesos master URL: write mesos://host:5050 or mesos://zk://host:2181/mesos", master)
}

// staticDetector knows one master; after a redirect it asks that master's
// /master/redirect, which answers 307 with the leader as //host:port.
type staticDetector struct{ base string }

func (s staticDetector) Leader(context.Context) (string, error) { return s.base, nil }

func (s staticDetector) Redirect(ctx context.Context, base string, client *http.Client) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/master/redirect", nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusTemporaryRedirect || !strings.HasPrefix(loc, "//") {
		return "", fmt.Errorf("%s/master/redirect answered %d %q", base, resp.StatusCode, loc)
	}
	scheme := "http:"
	if strings.HasPrefix(base, "https:") {
		scheme = "https:"
	}
	u, err := url.Parse(scheme + loc)
	if err != nil {
		return "", err
	}
	return scheme + "//" + u.Host, nil
}

// zkDetector reads the masters' json.info_ znodes; the smallest sequence leads.
type zkDetector struct {
	servers []string
	dir     string
	digest  string
}

func newZKDetector(raw string) (Detector, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%q is not a ZooKeeper URL", raw)
	}
	d := &zkDetector{servers: strings.Split(u.Host, ","), dir: path.Clean("/" + u.Path)}
	if u.User != nil {
		pass, _ := u.User.Password()
		d.digest = u.User.Username() + ":" + pass
	}
	return d, nil
}

func (d *zkDetector) Redirect(ctx context.Context, _ string, _ *http.Client) (string, error) {
	return d.Leader(ctx)
}

// Leader reads ZooKeeper once: list the children, take the smallest
// sequence among json.info_ nodes, decode its MasterInfo.
func (d *zkDetector) Leader(ctx context.Context) (string, error) {
	conn, events, err := zk.Connect(d.servers, 10*time.Second, zk.WithLogInfo(false), zk.WithLogger(quietZK{}))
	if err != nil {
		return "", fmt.Errorf("zookeeper %v: %w", d.servers, err)
	}
	defer conn.Close()
	go func() {
		for range events {
		}
	}()
	if d.digest != "" {
		if err := conn.AddAuth("digest", []byte(d.digest)); err != nil {
			return "", err
		}
	}
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for conn.State() != zk.StateHasSession {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("zookeeper %v: no session after %s", d.servers, time.Since(start).Round(100*time.Millisecond))
		}
		time.Sleep(20 * time.Millisecond)
	}
	children, _, err := conn.Children(d.dir)
	if err != nil {
		return "", fmt.Errorf("zookeeper %s: %w", d.dir, err)
	}
	var infos []string
	for _, ch := range children {
		if strings.HasPrefix(ch, "json.info_") {
			infos = append(infos, ch)
		}
	}
	if len(infos) == 0 {
		return "", fmt.Errorf("no Mesos master is registered under %s (no json.info_ znode)", d.dir)
	}
	sort.Slice(infos, func(i, j int) bool { return seq(infos[i]) < seq(infos[j]) })
	data, _, err := conn.Get(d.dir + "/" + infos[0])
	if err != nil {
		return "", err
	}
	return masterBaseURL(data)
}

func seq(name string) string { return name[strings.LastIndex(name, "_")+1:] }

// masterBaseURL decodes a MasterInfo JSON: address.hostname or address.ip
// with port, else the legacy ip (a uint32 in network byte order).
func masterBaseURL(data []byte) (string, error) {
	var info struct {
		Hostname string `json:"hostname"`
		IP       uint32 `json:"ip"`
		Port     int    `json:"port"`
		Address  *struct {
			Hostname string `json:"hostname"`
			IP       string `json:"ip"`
			Port     int    `json:"port"`
		} `json:"address"`
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return "", fmt.Errorf("decode MasterInfo: %w", err)
	}
	if a := info.Address; a != nil && a.Port != 0 {
		host := a.IP
		if host == "" {
			host = a.Hostname
		}
		return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port)), nil
	}
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, info.IP)
	return "http://" + net.JoinHostPort(net.IP(b).String(), strconv.Itoa(info.Port)), nil
}

// quietZK sends go-zk's connection chatter (a line per failed attempt) to
// slog at debug level: the caller reports the one error that matters.
type quietZK struct{}

func (quietZK) Printf(format string, args ...any) {
	slog.Debug(fmt.Sprintf("zookeeper: "+format, args...))
}
