// Package zktest runs real ZooKeeper servers (Debian's zookeeper package)
// for tests: a single node or an ensemble on free loopback ports, each
// stoppable and restartable with its data, and a proxy that can freeze a
// client's connection so that its session really expires.
//
// Without ZooKeeper installed the tests that need it are skipped, unless
// RECONCILER_REQUIRE_ZOOKEEPER is set (CI sets it): then they fail.
package zktest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ServerScript is the Debian package's launcher.
const ServerScript = "/usr/share/zookeeper/bin/zkServer.sh"

// TickTime is short so that sessions can expire quickly in tests: the
// minimum session timeout is two ticks.
const TickTime = 100 * time.Millisecond

// Require skips the test when ZooKeeper is not installed, or fails it when
// RECONCILER_REQUIRE_ZOOKEEPER is set.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(ServerScript); err == nil {
		return
	}
	if os.Getenv("RECONCILER_REQUIRE_ZOOKEEPER") != "" {
		t.Fatalf("ZooKeeper is required (RECONCILER_REQUIRE_ZOOKEEPER is set) but %s is missing: apt-get install zookeeper", ServerScript)
	}
	t.Skipf("ZooKeeper is not installed (%s); apt-get install zookeeper, or set RECONCILER_REQUIRE_ZOOKEEPER to make this a failure", ServerScript)
}

// Cluster is a set of ZooKeeper servers forming one ensemble.
type Cluster struct {
	t       testing.TB
	dir     string
	servers []*server
}

type server struct {
	id          int
	clientPort  int
	peer, elect int
	cfg         string
	cmd         *exec.Cmd
}

// Start starts an ensemble of n servers (1 or 3) and waits until it serves.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	Require(t)
	c := &Cluster{t: t, dir: t.TempDir()}
	for i := 1; i <= n; i++ {
		c.servers = append(c.servers, &server{id: i, clientPort: freePort(t), peer: freePort(t), elect: freePort(t)})
	}
	for _, s := range c.servers {
		data := filepath.Join(c.dir, fmt.Sprintf("zk%d", s.id))
		if err := os.MkdirAll(data, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg := []string{
			fmt.Sprintf("tickTime=%d", TickTime.Milliseconds()),
			"dataDir=" + data,
			fmt.Sprintf("clientPort=%d", s.clientPort),
			"clientPortAddress=127.0.0.1",
			"admin.enableServer=false",
			"4lw.commands.whitelist=ruok,srvr",
			"initLimit=20", "syncLimit=10",
			"maxSessionTimeout=60000",
		}
		if n > 1 {
			for _, o := range c.servers {
				cfg = append(cfg, fmt.Sprintf("server.%d=127.0.0.1:%d:%d", o.id, o.peer, o.elect))
			}
			if err := os.WriteFile(filepath.Join(data, "myid"), []byte(fmt.Sprint(s.id)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		s.cfg = filepath.Join(c.dir, fmt.Sprintf("zoo%d.cfg", s.id))
		if err := os.WriteFile(s.cfg, []byte(strings.Join(cfg, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(c.StopAll)
	c.StartAll()
	return c
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Addrs are the servers' client addresses, host:port.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, s := range c.servers {
		out = append(out, fmt.Sprintf("127.0.0.1:%d", s.clientPort))
	}
	return out
}

// URL is a zk:// URL of the whole ensemble with the given path.
func (c *Cluster) URL(path string) string {
	return "zk://" + strings.Join(c.Addrs(), ",") + path
}

// StartAll starts every stopped server and waits until the ensemble serves.
func (c *Cluster) StartAll() {
	for i := range c.servers {
		c.startProcess(i)
	}
	for i := range c.servers {
		c.waitServing(i)
	}
}

// Start restarts server i (0-based) with its data and waits until it serves.
func (c *Cluster) Start(i int) {
	c.startProcess(i)
	c.waitServing(i)
}

func (c *Cluster) startProcess(i int) {
	s := c.servers[i]
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(ServerScript, "start-foreground", s.cfg)
	cmd.Env = append(os.Environ(), "ZOO_LOG_DIR="+c.dir, "JVMFLAGS=-Xmx256m -XX:+UseSerialGC")
	log, err := os.Create(filepath.Join(c.dir, fmt.Sprintf("zk%d.log", s.id)))
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start zookeeper: %v", err)
	}
	s.cmd = cmd
}

func (c *Cluster) waitServing(i int) {
	s := c.servers[i]
	// A JVM each, three at once on a small CI machine busy with the other
	// packages' tests: a minute, not thirty seconds.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out := fourLetter(fmt.Sprintf("127.0.0.1:%d", s.clientPort), "srvr")
		if strings.Contains(out, "Mode: ") {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	logData, _ := os.ReadFile(filepath.Join(c.dir, fmt.Sprintf("zk%d.log", s.id)))
	c.t.Fatalf("zookeeper server %d did not serve within 60s; its log:\n%s", s.id, tail(string(logData), 40))
}

func tail(s string, lines int) string {
	parts := strings.Split(s, "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

func fourLetter(addr, cmd string) string {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return ""
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(cmd)); err != nil {
		return ""
	}
	b, _ := io.ReadAll(bufio.NewReader(conn))
	return string(b)
}

// Stop kills server i (0-based) and its JVM.
func (c *Cluster) Stop(i int) {
	s := c.servers[i]
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// StopAll kills every server.
func (c *Cluster) StopAll() {
	for i := range c.servers {
		c.Stop(i)
	}
}

// Proxy forwards TCP connections to a target and can freeze them: while
// frozen it forwards nothing, so a client behind it loses its server without
// closing its session, and the session expires on the server.
type Proxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	frozen bool
	conns  []net.Conn
}

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(t testing.TB, target string) *Proxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{l: l, target: target}
	t.Cleanup(func() { l.Close(); p.Freeze() })
	go p.serve()
	return p
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.l.Addr().String() }

func (p *Proxy) serve() {
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.frozen {
			p.mu.Unlock()
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			in.Close()
			continue
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			dst.Close()
			return
		}
		p.mu.Lock()
		frozen := p.frozen
		p.mu.Unlock()
		if frozen {
			continue // swallow: nothing crosses while frozen
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			src.Close()
			return
		}
	}
}

// Freeze stops all traffic and drops open connections without telling the
// server: the client's session times out there.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = true
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
}

// Thaw lets new connections through again.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = false
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
