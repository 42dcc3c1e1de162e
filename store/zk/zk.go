// Package zk is the ZooKeeper store, for running several reconciler
// replicas: one znode per object (no single blob, so ZooKeeper's 1 MB node
// limit bounds one record, not the whole state), znode versions as the
// compare-and-set versions, and leader election with fenced writes.
//
// Layout under the chroot path of the URL (zk://h1:2181,h2:2181/path):
//
//	<path>/records/<Kind>/<name>   one record, JSON
//	<path>/meta                    the reconciler's own state, JSON
//	<path>/leader/<id>-n_000000007 election candidates (ephemeral, sequential)
//
// Election: each replica creates an ephemeral sequential candidate node; the
// smallest sequence leads; the others watch their predecessor. Fencing: every
// write is a multi-op that first checks that this replica's candidate node
// still exists. A replica whose session expired (a long GC pause, a
// partition) has lost that node, so its writes are refused by ZooKeeper
// itself even before it notices. Leadership is given up the moment the
// session is disconnected or expires.
package zk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/sparkmesos/reconciler/store"
)

// Options configure a ZooKeeper store.
type Options struct {
	// SessionTimeout of the ZooKeeper session. Default: 10s.
	SessionTimeout time.Duration
	// Digest is "user:password" for digest authentication; nodes are then
	// created readable and writable by that identity only.
	Digest string
	// Unfenced allows writes without leadership, for single-writer tools and
	// tests. The control loop never sets it.
	Unfenced bool
	Logger   *slog.Logger
}

// Store is a ZooKeeper-backed store.Store and store.Elector.
type Store struct {
	conn *zk.Conn
	root string
	acl  []zk.ACL
	opts Options

	mu        sync.Mutex
	candidate string // our election node, while campaigning or leading
	leading   bool   // we hold leadership
	lost      chan struct{}
	stateSubs []chan zk.State
}

var (
	_ store.Store   = (*Store)(nil)
	_ store.Elector = (*Store)(nil)
	_ store.Batch   = (*Store)(nil)
)

// ParseURL splits zk://h1:2181,h2:2181/path into servers and the path.
func ParseURL(raw string) ([]string, string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "zk" || u.Host == "" {
		return nil, "", fmt.Errorf("%q is not a ZooKeeper URL: write zk://host1:2181,host2:2181/path", raw)
	}
	root := path.Clean("/" + u.Path)
	if root == "/" {
		return nil, "", fmt.Errorf("%q has no path: give the znode under which the reconciler keeps its state, such as zk://host:2181/sparkmesos", raw)
	}
	return strings.Split(u.Host, ","), root, nil
}

// Open connects to ZooKeeper and creates the root path as needed.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	servers, root, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if opts.SessionTimeout == 0 {
		opts.SessionTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{root: root, opts: opts, acl: zk.WorldACL(zk.PermAll)}
	conn, events, err := zk.Connect(servers, opts.SessionTimeout,
		zk.WithLogger(zkLogger{opts.Logger}),
		zk.WithEventCallback(s.onEvent))
	if err != nil {
		return nil, fmt.Errorf("zookeeper %s: %w", rawURL, err)
	}
	go func() {
		for range events { // drained; session state arrives through onEvent
		}
	}()
	s.conn = conn
	if opts.Digest != "" {
		user, pass, ok := strings.Cut(opts.Digest, ":")
		if !ok {
			conn.Close()
			return nil, errors.New("zookeeper digest must be user:password")
		}
		if err := conn.AddAuth("digest", []byte(opts.Digest)); err != nil {
			conn.Close()
			return nil, fmt.Errorf("zookeeper digest auth: %w", err)
		}
		s.acl = zk.DigestACL(zk.PermAll, user, pass)
	}
	if err := s.waitConnected(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	for _, p := range []string{s.root, s.records(), s.leaderDir()} {
		if err := s.ensure(p); err != nil {
			conn.Close()
			return nil, err
		}
	}
	return s, nil
}

type zkLogger struct{ l *slog.Logger }

func (z zkLogger) Printf(format string, args ...any) { z.l.Debug(fmt.Sprintf(format, args...)) }

func (s *Store) waitConnected(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.SessionTimeout)
	defer cancel()
	for s.conn.State() != zk.StateHasSession {
		select {
		case <-ctx.Done():
			return fmt.Errorf("zookeeper: no session after %s", s.opts.SessionTimeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// onEvent runs on the connection's event loop; it must not block.
func (s *Store) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	switch ev.State {
	case zk.StateDisconnected, zk.StateExpired, zk.StateAuthFailed:
		s.loseLeadership()
	}
	s.mu.Lock()
	for _, c := range s.stateSubs {
		select {
		case c <- ev.State:
		default:
		}
	}
	s.mu.Unlock()
}

func (s *Store) loseLeadership() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leading {
		s.leading = false
		close(s.lost)
	}
}

func (s *Store) records() string               { return s.root + "/records" }
func (s *Store) leaderDir() string             { return s.root + "/leader" }
func (s *Store) metaPath() string              { return s.root + "/meta" }
func (s *Store) recordPath(k store.Key) string { return s.records() + "/" + k.Kind + "/" + k.Name }

// ensure creates p and its parents when missing.
func (s *Store) ensure(p string) error {
	if exists, _, err := s.conn.Exists(p); err == nil && exists {
		return nil
	}
	if parent := path.Dir(p); parent != "/" {
		if err := s.ensure(parent); err != nil {
			return err
		}
	}
	if _, err := s.conn.Create(p, nil, 0, s.acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("zookeeper create %s: %w", p, err)
	}
	return nil
}

// fence returns the check that makes a write conditional on leadership.
func (s *Store) fence() (*zk.CheckVersionRequest, error) {
	if s.opts.Unfenced {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.leading {
		return nil, store.ErrNotLeader
	}
	return &zk.CheckVersionRequest{Path: s.candidate, Version: -1}, nil
}

// write runs op behind the fence and maps ZooKeeper's answers.
func (s *Store) write(what string, op any) (*zk.Stat, error) {
	check, err := s.fence()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	ops := []any{op}
	if check != nil {
		ops = []any{check, op}
	}
	res, err := s.conn.Multi(ops...)
	if err != nil {
		if check != nil && len(res) == 2 && res[0].Error != nil {
			return nil, fmt.Errorf("%s: leadership lost (%v): %w", what, res[0].Error, store.ErrNotLeader)
		}
		switch last := opErr(res, err); {
		case errors.Is(last, zk.ErrBadVersion), errors.Is(last, zk.ErrNodeExists), errors.Is(last, zk.ErrNoNode):
			return nil, fmt.Errorf("%s: %w", what, store.ErrConflict)
		default:
			return nil, fmt.Errorf("%s: %w", what, last)
		}
	}
	return res[len(res)-1].Stat, nil
}

func opErr(res []zk.MultiResponse, err error) error {
	for _, r := range res {
		if r.Error != nil && !errors.Is(r.Error, zk.ErrAPIError) {
			return r.Error
		}
	}
	return err
}

// Get implements store.Store.
func (s *Store) Get(_ context.Context, key store.Key) (*store.Record, error) {
	b, stat, err := s.conn.Get(s.recordPath(key))
	if errors.Is(err, zk.ErrNoNode) {
		return nil, fmt.Errorf("%s: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	return store.DecodeRecord(b, int64(stat.Version)+1)
}

// Versions implements store.Versioned: the kind's children and each one's
// stat, without their data.
func (s *Store) Versions(_ context.Context, kind string) (map[string]int64, error) {
	out := map[string]int64{}
	names, _, err := s.conn.Children(s.records() + "/" + kind)
	if errors.Is(err, zk.ErrNoNode) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	versions := make([]int64, len(names)) // 0: deleted meanwhile
	err = inFlight(len(names), func(i int) error {
		ok, stat, err := s.conn.Exists(s.recordPath(store.Key{Kind: kind, Name: names[i]}))
		if ok {
			versions[i] = int64(stat.Version) + 1
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", kind, err)
	}
	for i, n := range names {
		if versions[i] > 0 {
			out[n] = versions[i]
		}
	}
	return out, nil
}

// List implements store.Store.
func (s *Store) List(ctx context.Context, kind string) ([]*store.Record, error) {
	kinds := []string{kind}
	if kind == "" {
		var err error
		if kinds, _, err = s.conn.Children(s.records()); err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
	}
	var out []*store.Record
	for _, k := range kinds {
		names, _, err := s.conn.Children(s.records() + "/" + k)
		if errors.Is(err, zk.ErrNoNode) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", k, err)
		}
		recs := make([]*store.Record, len(names))
		err = inFlight(len(names), func(i int) error {
			rec, err := s.Get(ctx, store.Key{Kind: k, Name: names[i]})
			if errors.Is(err, store.ErrNotFound) {
				return nil // deleted meanwhile
			}
			recs[i] = rec
			return err
		})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r != nil {
				out = append(out, r)
			}
		}
	}
	store.SortRecords(out)
	return out, nil
}

// inFlightRequests is how many requests a listing or a batch of writes
// keeps in flight: the session pipelines them on its one connection, so n
// records wait about n/inFlightRequests round trips instead of n.
const inFlightRequests = 32

// inFlight calls fn for each i below n, up to inFlightRequests at once,
// and returns the first error.
func inFlight(n int, fn func(i int) error) error {
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range min(inFlightRequests, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// Put implements store.Store.
func (s *Store) Put(_ context.Context, rec *store.Record) (*store.Record, error) {
	b, err := store.EncodeRecord(rec)
	if err != nil {
		return nil, err
	}
	p := s.recordPath(rec.Key)
	what := "put " + rec.Key.String()
	var stat *zk.Stat
	if rec.Version == 0 {
		if err := s.ensure(path.Dir(p)); err != nil {
			return nil, err
		}
		if _, err = s.write(what, &zk.CreateRequest{Path: p, Data: b, Acl: s.acl}); err == nil {
			return store.DecodeRecord(b, 1)
		}
		return nil, err
	}
	if stat, err = s.write(what, &zk.SetDataRequest{Path: p, Data: b, Version: int32(rec.Version - 1)}); err != nil {
		return nil, err
	}
	return store.DecodeRecord(b, int64(stat.Version)+1)
}

// PutAll implements store.Batch: each record is written as Put writes it
// (its own fenced compare-and-set), inFlightRequests at a time; a key the
// batch writes twice is written the second time once the first is done.
func (s *Store) PutAll(ctx context.Context, recs []*store.Record) []store.PutResult {
	out := make([]store.PutResult, len(recs))
	rest := make([]int, len(recs))
	for i := range rest {
		rest[i] = i
	}
	for len(rest) > 0 {
		var round, later []int
		seen := make(map[store.Key]bool, len(rest))
		for _, i := range rest {
			if seen[recs[i].Key] {
				later = append(later, i)
				continue
			}
			seen[recs[i].Key] = true
			round = append(round, i)
		}
		_ = inFlight(len(round), func(j int) error {
			i := round[j]
			out[i].Record, out[i].Err = s.Put(ctx, recs[i])
			return nil
		})
		rest = later
	}
	return out
}

// Delete implements store.Store.
func (s *Store) Delete(ctx context.Context, key store.Key, version int64) error {
	if _, err := s.Get(ctx, key); err != nil {
		return err
	}
	_, err := s.write("delete "+key.String(), &zk.DeleteRequest{Path: s.recordPath(key), Version: int32(version - 1)})
	return err
}

// GetMeta implements store.Store.
func (s *Store) GetMeta(context.Context) (*store.Meta, error) {
	b, stat, err := s.conn.Get(s.metaPath())
	if errors.Is(err, zk.ErrNoNode) {
		return &store.Meta{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get meta: %w", err)
	}
	return store.DecodeMeta(b, int64(stat.Version)+1)
}

// PutMeta implements store.Store.
func (s *Store) PutMeta(_ context.Context, m *store.Meta) (*store.Meta, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if m.Version == 0 {
		if _, err := s.write("put meta", &zk.CreateRequest{Path: s.metaPath(), Data: b, Acl: s.acl}); err != nil {
			return nil, err
		}
		return store.DecodeMeta(b, 1)
	}
	stat, err := s.write("put meta", &zk.SetDataRequest{Path: s.metaPath(), Data: b, Version: int32(m.Version - 1)})
	if err != nil {
		return nil, err
	}
	return store.DecodeMeta(b, int64(stat.Version)+1)
}

// Close gives up leadership and closes the session (its ephemeral nodes go
// at once).
func (s *Store) Close() error {
	s.loseLeadership()
	s.conn.Close()
	return nil
}

// Campaign implements store.Elector.
func (s *Store) Campaign(ctx context.Context) (store.Leadership, error) {
	// A candidate node left from an earlier campaign (leadership lost to a
	// brief disconnection, the session surviving) would queue us behind
	// ourselves: remove it first.
	_ = s.abandon(nil)
	host, _ := os.Hostname()
	node, err := s.conn.CreateProtectedEphemeralSequential(s.leaderDir()+"/n_", []byte(fmt.Sprintf("%s pid %d", host, os.Getpid())), s.acl)
	if err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	s.mu.Lock()
	s.candidate = node
	s.mu.Unlock()
	for {
		children, _, err := s.conn.Children(s.leaderDir())
		if err != nil {
			return nil, s.abandon(fmt.Errorf("campaign: %w", err))
		}
		sort.Slice(children, func(i, j int) bool { return sequence(children[i]) < sequence(children[j]) })
		me := path.Base(node)
		idx := -1
		for i, c := range children {
			if c == me {
				idx = i
			}
		}
		switch {
		case idx < 0:
			return nil, s.abandon(errors.New("campaign: our candidate node vanished (session expired)"))
		case idx == 0:
			return s.lead(node)
		}
		exists, _, watch, err := s.conn.ExistsW(s.leaderDir() + "/" + children[idx-1])
		if err != nil {
			return nil, s.abandon(fmt.Errorf("campaign: %w", err))
		}
		if !exists {
			continue
		}
		select {
		case <-watch:
		case <-ctx.Done():
			return nil, s.abandon(ctx.Err())
		}
	}
}

// sequence is the candidate's sequence number: the ten digits ZooKeeper
// appends to every sequential node.
func sequence(name string) string {
	if len(name) < 10 {
		return name
	}
	return name[len(name)-10:]
}

func (s *Store) abandon(err error) error {
	s.mu.Lock()
	node := s.candidate
	s.candidate = ""
	s.mu.Unlock()
	if node != "" {
		_ = s.conn.Delete(node, -1)
	}
	return err
}

func (s *Store) lead(node string) (store.Leadership, error) {
	if s.conn.State() != zk.StateHasSession {
		return nil, s.abandon(errors.New("campaign: session lost"))
	}
	exists, _, watch, err := s.conn.ExistsW(node)
	if err != nil || !exists {
		return nil, s.abandon(fmt.Errorf("campaign: our candidate node is gone: %v", err))
	}
	s.mu.Lock()
	s.leading = true
	s.lost = make(chan struct{})
	l := &leadership{s: s, lost: s.lost}
	s.mu.Unlock()
	go func() {
		select {
		case ev := <-watch:
			if ev.Type == zk.EventNodeDeleted || ev.Type == zk.EventNotWatching {
				s.loseLeadership()
			}
		case <-l.lost:
		}
	}()
	return l, nil
}

type leadership struct {
	s    *Store
	lost chan struct{}
}

func (l *leadership) Lost() <-chan struct{} { return l.lost }

// Resign gives leadership up and deletes the candidate node, so that the
// next candidate leads at once.
func (l *leadership) Resign() error {
	l.s.loseLeadership()
	return l.s.abandon(nil)
}
