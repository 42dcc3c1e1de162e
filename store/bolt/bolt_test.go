package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/sparkmesos/reconciler/store"
	"github.com/sparkmesos/reconciler/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) store.Store {
			s, err := Open(filepath.Join(t.TempDir(), "state.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		func(t *testing.T, old store.Store) store.Store {
			path := old.(*Store).path
			if err := old.Close(); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})
}

// TestSecondWriterRefused runs a second process on the same file: it must
// fail with an error naming the holder, while a reader still reads.
func TestSecondWriterRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(context.Background(), &store.Record{Key: store.Key{Kind: "K", Name: "n"}}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BOLT_SECOND_WRITER="+path)
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "is in use by another reconciler (pid") {
		t.Fatalf("second writer said:\n%s", out)
	}
	r, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := r.List(context.Background(), ""); err != nil || len(recs) != 1 {
		t.Fatalf("reader while the writer runs: %v, %v", recs, err)
	}
	if _, err := r.Put(context.Background(), &store.Record{Key: store.Key{Kind: "K", Name: "x"}}); !errors.Is(err, store.ErrNotLeader) {
		t.Fatalf("a read-only store wrote: %v", err)
	}
	if res := r.PutAll(context.Background(), []*store.Record{{Key: store.Key{Kind: "K", Name: "x"}}}); !errors.Is(res[0].Err, store.ErrNotLeader) {
		t.Fatalf("a read-only store wrote a batch: %v", res[0].Err)
	}
}

// TestMain doubles as the second writer of TestSecondWriterRefused when
// started with BOLT_SECOND_WRITER set.
func TestMain(m *testing.M) {
	if path := os.Getenv("BOLT_SECOND_WRITER"); path != "" {
		if _, err := Open(path); err != nil {
			os.Stdout.WriteString(err.Error() + "\n")
			os.Exit(0)
		}
		os.Stdout.WriteString("second writer opened the store\n")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func TestForeignFilesUntouched(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	content := []byte(strings.Repeat("not a database ", 1000))
	if err := os.WriteFile(garbage, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(garbage); err == nil || !strings.Contains(err.Error(), "left untouched") {
		t.Fatalf("opening garbage: %v", err)
	}
	if got, _ := os.ReadFile(garbage); string(got) != string(content) {
		t.Fatal("a foreign file was modified")
	}

	foreign := filepath.Join(dir, "other.db")
	db, err := bbolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket([]byte("someone-else")); return err })
	db.Close()
	if _, err := Open(foreign); err == nil || !strings.Contains(err.Error(), "another program") {
		t.Fatalf("opening another program's bbolt file: %v", err)
	}
}

func TestLeadershipIsTheFileLock(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l, err := s.Campaign(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
		t.Fatal("leadership lost without reason")
	default:
	}
}

// TestEmptyDatabaseFromACrash: a crash right after bbolt created the file
// leaves a database without buckets; the next start must take it, not
// refuse it as another program's (found by the e2e crash test).
func TestEmptyDatabaseFromACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("an empty bbolt file: %v", err)
	}
	defer s.Close()
	if _, err := s.Put(context.Background(), &store.Record{Key: store.Key{Kind: "K", Name: "n"}}); err != nil {
		t.Fatal(err)
	}
}

// A schema 1 file (versions only before each record's JSON) is read as it
// is by a reader, and given the versions bucket by a writer, which then
// keeps it with every write; a file of a newer schema is refused.
func TestSchema1IsMigrated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		info, _ := tx.CreateBucket(bucketInfo)
		records, _ := tx.CreateBucket(bucketRecords)
		for name, version := range map[string]int64{"a": 3, "b": 1} {
			b, _ := store.EncodeRecord(&store.Record{Key: store.Key{Kind: "SparkApplication", Name: name}, SpecHash: name})
			if err := records.Put([]byte("SparkApplication/"+name), join(version, b)); err != nil {
				return err
			}
		}
		return info.Put(keySchema, []byte("1"))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	ctx := context.Background()
	versions := func(s *Store, want string) {
		t.Helper()
		vs, err := s.Versions(ctx, "SparkApplication")
		if got := fmt.Sprint(vs); err != nil || got != want {
			t.Fatalf("Versions = %s %v, want %s", got, err, want)
		}
	}
	r, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	versions(r, "map[a:3 b:1]")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	versions(w, "map[a:3 b:1]")
	a, err := w.Get(ctx, store.Key{Kind: "SparkApplication", Name: "a"})
	if err != nil || a.Version != 3 {
		t.Fatalf("a after the migration: %+v %v", a, err)
	}
	if _, err := w.Put(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := w.Delete(ctx, store.Key{Kind: "SparkApplication", Name: "b"}, 1); err != nil {
		t.Fatal(err)
	}
	res := w.PutAll(ctx, []*store.Record{{Key: store.Key{Kind: "SparkApplication", Name: "c"}}})
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	versions(w, "map[a:4 c:1]")
	versions(r, "map[a:4 c:1]")
	err = w.view(func(tx *bbolt.Tx) error {
		if v := string(tx.Bucket(bucketInfo).Get(keySchema)); v != "2" {
			return fmt.Errorf("schema %q after the migration, want 2", v)
		}
		if n := tx.Bucket(bucketVersions).Stats().KeyN; n != 2 {
			return fmt.Errorf("%d versions kept, want 2", n)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A newer schema: refused, saying so.
	w.Close()
	db, _ = bbolt.Open(path, 0o600, nil)
	_ = db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketInfo).Put(keySchema, []byte("3")) })
	db.Close()
	if _, err := Open(path); err == nil || !strings.Contains(err.Error(), `schema version "3"`) {
		t.Fatalf("a schema 3 file opened: %v", err)
	}
}

// TestReaderGetsInWhileTheWriterWrites: the writer keeps the file open
// between its transactions, yet a reader waiting for it (status while run
// adopts thousands of drivers) is let in after the writer's next
// transaction, not when bbolt's lock timeout ends; and once the writer is
// idle, a plain bbolt reader that does not say it waits gets in too.
func TestReaderGetsInWhileTheWriterWrites(t *testing.T) {
	s, path := openWriter(t)
	ctx := context.Background()
	stop, done, writing := make(chan struct{}), make(chan error), make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := s.Put(ctx, &store.Record{Key: store.Key{Kind: "K", Name: fmt.Sprint("n", i)}}); err != nil {
				done <- err
				return
			}
			if i == 10 {
				close(writing)
			}
		}
	}()
	<-writing
	for i := 0; i < 3; i++ {
		r, err := OpenReadOnly(path)
		if err != nil {
			t.Fatalf("a reader while the writer writes: %v", err)
		}
		recs, err := r.List(ctx, "K")
		if err != nil || len(recs) < 10 {
			t.Fatalf("a reader while the writer writes: %d records, %v", len(recs), err)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatalf("a plain reader once the writer is idle: %v", err)
	}
	db.Close()
}

// TestListLeavesNoFileInRSS: a List reads every record through bbolt's
// memory map; the writer closes the file after it, so that the pages it
// touched do not stay in the process's RSS while later transactions keep
// the file open.
func TestListLeavesNoFileInRSS(t *testing.T) {
	s, _ := openWriter(t)
	ctx := context.Background()
	big := strings.Repeat("x", 8<<10)
	var recs []*store.Record
	for i := 0; i < 4000; i++ { // 32 MB of records
		recs = append(recs, &store.Record{Key: store.Key{Kind: "K", Name: fmt.Sprint("n", i)}, Status: store.Status{Message: big}})
	}
	for _, r := range s.PutAll(ctx, recs) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	rssFile := func() int {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
				var kb int
				fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
				return kb
			}
		}
		t.Fatal("no RssFile in /proc/self/status")
		return 0
	}
	if _, err := s.Get(ctx, store.Key{Kind: "K", Name: "n0"}); err != nil { // the file open again
		t.Fatal(err)
	}
	before := rssFile()
	if got, err := s.List(ctx, "K"); err != nil || len(got) != len(recs) {
		t.Fatalf("list: %d records, %v", len(got), err)
	}
	if _, err := s.Get(ctx, store.Key{Kind: "K", Name: "n1"}); err != nil { // and again
		t.Fatal(err)
	}
	if grown := rssFile() - before; grown > 8<<10 {
		t.Fatalf("the file's pages stayed in RSS after a List: %d kB more", grown)
	}
}

// TestAStuckReaderDoesNotStallTheWriter: a reader that says it waits and
// never finishes (a stopped `reconciler status`) costs the writer one
// wait, not one per transaction.
func TestAStuckReaderDoesNotStallTheWriter(t *testing.T) {
	s, path := openWriter(t)
	f, err := os.Open(path + ".readers")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 20; i++ {
		if _, err := s.Put(context.Background(), &store.Record{Key: store.Key{Kind: "K", Name: fmt.Sprint("n", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("20 writes beside a stuck reader took %s", took)
	}
}

// openWriter opens a new store for writing, closed when the test ends.
func openWriter(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}
