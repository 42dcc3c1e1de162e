package zk

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/sparkmesos/reconciler/store"
	"github.com/sparkmesos/reconciler/store/storetest"
	"github.com/sparkmesos/reconciler/store/zk/zktest"
)

const sessionTimeout = 2 * time.Second

var roots atomic.Int64

func newRoot() string { return fmt.Sprintf("/test%d/state", roots.Add(1)) }

func open(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, Options{SessionTimeout: sessionTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func lead(t *testing.T, s *Store) store.Leadership {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := s.Campaign(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestConformance(t *testing.T) {
	zkc := zktest.Start(t, 1)
	storetest.Run(t,
		func(t *testing.T) store.Store {
			s := open(t, zkc.URL(newRoot()))
			lead(t, s)
			return s
		},
		func(t *testing.T, old store.Store) store.Store {
			root := old.(*Store).root
			old.Close()
			s := open(t, zkc.URL(root))
			lead(t, s)
			return s
		})
}

func TestFollowerCannotWrite(t *testing.T) {
	zkc := zktest.Start(t, 1)
	url := zkc.URL(newRoot())
	a, b := open(t, url), open(t, url)
	lead(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := b.Campaign(ctx); err == nil {
		t.Fatal("a second replica led while the first leads")
	}
	if _, err := b.Put(context.Background(), &store.Record{Key: store.Key{Kind: "K", Name: "n"}}); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("a follower's write: %v, want ErrNotLeader", err)
	}
}

// TestLeaderSessionExpiry freezes the leader's connection so that its
// session expires on the server: another replica must lead within the
// session timeout + 2 s, and the old leader's writes must be refused by
// ZooKeeper even if it still believed it led.
func TestLeaderSessionExpiry(t *testing.T) {
	zkc := zktest.Start(t, 1)
	root := newRoot()
	proxy := zktest.NewProxy(t, zkc.Addrs()[0])
	a := open(t, "zk://"+proxy.Addr()+root)
	b := open(t, zkc.URL(root))
	la := lead(t, a)
	oldNode := a.candidate
	if _, err := a.Put(context.Background(), &store.Record{Key: store.Key{Kind: "K", Name: "n"}, SpecHash: "a"}); err != nil {
		t.Fatal(err)
	}

	bLeads := make(chan time.Time, 1)
	go func() {
		if _, err := b.Campaign(context.Background()); err == nil {
			bLeads <- time.Now()
		}
	}()
	frozen := time.Now()
	proxy.Freeze()
	select {
	case at := <-bLeads:
		took := at.Sub(frozen)
		t.Logf("the other replica led %s after the leader's connection froze (session timeout %s)", took.Round(time.Millisecond), sessionTimeout)
		if took > sessionTimeout+2*time.Second {
			t.Errorf("the other replica led after %s, want within %s", took, sessionTimeout+2*time.Second)
		}
	case <-time.After(sessionTimeout + 5*time.Second):
		t.Fatal("the other replica never led")
	}
	select {
	case <-la.Lost():
	case <-time.After(sessionTimeout):
		t.Fatal("the old leader was not told it lost leadership")
	}

	// The old leader comes back. Even if it still believed it led (a long GC
	// pause), its fenced write is refused by ZooKeeper.
	proxy.Thaw()
	deadline := time.Now().Add(10 * time.Second)
	for a.conn.State() != zk.StateHasSession && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	a.mu.Lock()
	a.leading, a.candidate, a.lost = true, oldNode, make(chan struct{})
	a.mu.Unlock()
	rec, err := b.Get(context.Background(), store.Key{Kind: "K", Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	rec.SpecHash = "stale leader"
	if _, err := a.Put(context.Background(), rec); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("the old leader's write: %v, want ErrNotLeader", err)
	}
	for i, res := range a.PutAll(context.Background(), []*store.Record{rec, {Key: store.Key{Kind: "K", Name: "new"}}}) {
		if !errors.Is(res.Err, store.ErrNotLeader) {
			t.Fatalf("the old leader's batch, record %d: %v, want ErrNotLeader", i, res.Err)
		}
	}
	rec.SpecHash = "b"
	if _, err := b.Put(context.Background(), rec); err != nil {
		t.Fatalf("the new leader's write: %v", err)
	}
}

func TestResignHandsOver(t *testing.T) {
	zkc := zktest.Start(t, 1)
	url := zkc.URL(newRoot())
	a, b := open(t, url), open(t, url)
	la := lead(t, a)
	done := make(chan error, 1)
	go func() { _, err := b.Campaign(context.Background()); done <- err }()
	time.Sleep(200 * time.Millisecond)
	if err := la.Resign(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("resigning did not hand leadership over")
	}
	if _, err := a.Put(context.Background(), &store.Record{Key: store.Key{Kind: "K", Name: "x"}}); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("write after resigning: %v", err)
	}
}

// TestEnsemble: with one of three servers stopped the store keeps working;
// after the whole ensemble restarts, the data is intact.
func TestEnsemble(t *testing.T) {
	zkc := zktest.Start(t, 3)
	root := newRoot()
	s := open(t, zkc.URL(root))
	lead(t, s)
	ctx := context.Background()
	key := store.Key{Kind: "SparkApplication", Name: "etl"}
	rec, err := s.Put(ctx, &store.Record{Key: key, SpecHash: "v1"})
	if err != nil {
		t.Fatal(err)
	}

	zkc.Stop(0)
	var last error
	for i := 0; i < 50; i++ { // the client moves to a live server
		rec.SpecHash = "v2"
		if _, last = s.Put(ctx, rec); last == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
		if errors.Is(last, store.ErrNotLeader) {
			lead(t, s) // a server change may disconnect the session briefly
		}
		if cur, err := s.Get(ctx, key); err == nil {
			rec.Version = cur.Version
		}
	}
	if last != nil {
		t.Fatalf("store with one server down: %v", last)
	}
	s.Close()

	zkc.StopAll()
	zkc.StartAll()
	s2 := open(t, zkc.URL(root))
	got, err := s2.Get(ctx, key)
	if err != nil || got.SpecHash != "v2" {
		t.Fatalf("after restarting the ensemble: %+v, %v", got, err)
	}
}

func TestDigestACL(t *testing.T) {
	zkc := zktest.Start(t, 1)
	root := newRoot()
	s, err := Open(context.Background(), zkc.URL(root), Options{SessionTimeout: sessionTimeout, Digest: "reconciler:s3cret", Unfenced: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(context.Background(), &store.Record{Key: store.Key{Kind: "K", Name: "n"}}); err != nil {
		t.Fatal(err)
	}
	other := open(t, zkc.URL("/elsewhere"))
	if _, _, err := other.conn.Get(root + "/records/K/n"); !errors.Is(err, zk.ErrNoAuth) {
		t.Fatalf("reading without the digest: %v, want ErrNoAuth", err)
	}
}

func TestParseURL(t *testing.T) {
	servers, root, err := ParseURL("zk://h1:2181,h2:2181/spark/state")
	if err != nil || strings.Join(servers, ",") != "h1:2181,h2:2181" || root != "/spark/state" {
		t.Fatalf("got %v %q %v", servers, root, err)
	}
	for _, bad := range []string{"http://h:2181/x", "zk://h:2181", "zk:///x"} {
		if _, _, err := ParseURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
