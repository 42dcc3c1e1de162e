// Package bolt is the embedded store: one bbolt file, one writer.
//
// The writer holds an exclusive lock on PATH.lock for as long as it runs; a
// second writer gets a clear error naming the holder's pid. That lock plays
// the role of leadership: whoever holds it is the only one who acts.
//
// bbolt locks the database file itself for as long as it is open, so a
// reader such as `reconciler status` can read only while the writer has it
// closed. The writer keeps it open while its transactions follow one
// another (a pass's writes: reopening it for each threw away its page
// buffers, 50 MB of the heap while adopting 100,000 drivers) and closes it
// once idle for holdIdle, or after a transaction when a reader waits: a
// reader holds PATH.readers shared while it waits for the file and reads.
//
// A new file is stamped with a schema version. A file that is not a bbolt
// database, or a bbolt database of something else, is refused with an error
// and never written to.
//
// Schema 2 keeps each record's version twice: before its JSON, and in a
// bucket of versions alone, so that Versions (every pass of run) reads a
// few pages instead of every record's (through the memory map, the whole
// file counted in the process's RSS: 22 MB at 10,000 records). A writer
// opening a schema 1 file adds the versions; a reconciler older than that
// refuses the file by its stamp, so none writes records without them.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sparkmesos/reconciler/store"
)

// SchemaVersion is written into new files and checked on open.
const SchemaVersion = 2

var (
	bucketInfo     = []byte("reconciler")
	bucketRecords  = []byte("records")
	bucketVersions = []byte("versions")
	keySchema      = []byte("schema")
	keyMeta        = []byte("meta")
)

// Store is a bbolt-backed store.Store.
type Store struct {
	path     string
	lock     *os.File // nil for a read-only store
	readOnly bool

	// The writer's open file (nil when closed), and when it closes it.
	mu      sync.Mutex
	open    *bolt.DB
	idle    *time.Timer
	used    time.Time // the end of the last transaction on open
	readers *os.File  // PATH.readers
	// ignoreReaders: until then, PATH.readers is not heeded.
	ignoreReaders time.Time
}

// holdIdle is how long the writer keeps the file open after its last
// transaction.
const holdIdle = 50 * time.Millisecond

// How long the writer waits for readers to be done, and how long it then
// ignores the one that did not finish.
const (
	readersWait   = time.Second
	readersIgnore = 30 * time.Second
)

var (
	_ store.Store   = (*Store)(nil)
	_ store.Elector = (*Store)(nil)
	_ store.Batch   = (*Store)(nil)
)

// Open opens (creating if needed) the store at path for writing, taking the
// single-writer lock.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path + ".lock")
		lock.Close()
		return nil, fmt.Errorf("store %s is in use by another reconciler (pid %s); stop it or use another --store", path, strings.TrimSpace(string(holder)))
	}
	_ = lock.Truncate(0)
	_, _ = lock.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	s := &Store{path: path, lock: lock}
	if err := s.init(); err != nil {
		s.Close()
		return nil, err
	}
	if s.readers, err = os.OpenFile(path+".readers", os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		s.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	s.idle = time.AfterFunc(time.Hour, s.closeIdle)
	return s, nil
}

// OpenReadOnly opens an existing store for reading, without the writer lock,
// so that it can be read while a writer runs.
func OpenReadOnly(path string) (*Store, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	s := &Store{path: path, readOnly: true}
	if err := s.view(func(*bolt.Tx) error { return nil }); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Store) db(readOnly bool) (*bolt.DB, error) {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{Timeout: 5 * time.Second, ReadOnly: readOnly})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("store %s: timed out waiting for the file lock", s.path)
		}
		return nil, fmt.Errorf("store %s is not a usable bbolt file (%v); it was left untouched", s.path, err)
	}
	return db, nil
}

// init stamps a new file and checks an existing one. A bbolt database with
// no bucket at all is stamped too: it is what a crash between bbolt creating
// the file and the first transaction leaves, and it holds nothing to lose.
// One with buckets of another program is refused and left untouched.
func (s *Store) init() error {
	db, err := s.db(false)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketInfo) != nil {
			if err := s.check(tx); err != nil {
				return err
			}
			return s.migrate(tx)
		}
		if err := tx.ForEach(func([]byte, *bolt.Bucket) error { return errForeign }); err != nil {
			return fmt.Errorf("store %s %w", s.path, err)
		}
		info, err := tx.CreateBucket(bucketInfo)
		if err != nil {
			return err
		}
		for _, name := range [][]byte{bucketRecords, bucketVersions} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return info.Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
	})
}

// migrate brings a schema 1 file to schema 2: every record's version in
// the versions bucket.
func (s *Store) migrate(tx *bolt.Tx) error {
	if tx.Bucket(bucketVersions) != nil {
		return nil
	}
	versions, err := tx.CreateBucket(bucketVersions)
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketRecords).ForEach(func(k, v []byte) error {
		version, _ := split(v)
		return versions.Put(k, binary.BigEndian.AppendUint64(nil, uint64(version)))
	})
	if err != nil {
		return fmt.Errorf("store %s: adding the versions bucket: %w", s.path, err)
	}
	return tx.Bucket(bucketInfo).Put(keySchema, []byte(strconv.Itoa(SchemaVersion)))
}

var errForeign = errors.New("is a bbolt database of another program; it was left untouched")

// check verifies the schema stamp inside a transaction.
func (s *Store) check(tx *bolt.Tx) error {
	info := tx.Bucket(bucketInfo)
	if info == nil || tx.Bucket(bucketRecords) == nil {
		return fmt.Errorf("store %s %w", s.path, errForeign)
	}
	v, err := strconv.Atoi(string(info.Get(keySchema)))
	if err != nil || v < 1 || v > SchemaVersion {
		return fmt.Errorf("store %s has schema version %q; this reconciler reads versions 1 to %d (a newer reconciler wrote it: use that one)", s.path, info.Get(keySchema), SchemaVersion)
	}
	return nil
}

func (s *Store) view(fn func(*bolt.Tx) error) error { return s.read(fn, false) }

// read runs fn in a read transaction. whole says it reads most of the
// file (List): the writer closes the file after it, so that the pages it
// touched through bbolt's memory map (320 MB at 100,000 records) do not
// stay in its RSS through the transactions that follow.
func (s *Store) read(fn func(*bolt.Tx) error, whole bool) error {
	checked := s.checked(fn)
	if !s.readOnly {
		return s.held(func(db *bolt.DB) error { return db.View(checked) }, whole)
	}
	// A reader says it waits (PATH.readers, shared) until it is done.
	if f, err := os.Open(s.path + ".readers"); err == nil {
		defer f.Close() // releases the lock
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_SH)
	}
	db, err := s.db(true)
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(checked)
}

func (s *Store) update(fn func(*bolt.Tx) error) error {
	if s.readOnly {
		return fmt.Errorf("store %s is open read-only: %w", s.path, store.ErrNotLeader)
	}
	return s.held(func(db *bolt.DB) error { return db.Update(s.checked(fn)) }, false)
}

// checked is fn after the schema check, for every transaction.
func (s *Store) checked(fn func(*bolt.Tx) error) func(*bolt.Tx) error {
	return func(tx *bolt.Tx) error {
		if err := s.check(tx); err != nil {
			return err
		}
		return fn(tx)
	}
}

// held runs fn on the writer's open file, opening it if closed; after it,
// the file is closed at once if release is set or a reader waits, else
// once idle.
func (s *Store) held(fn func(*bolt.DB) error, release bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return fmt.Errorf("store %s is closed", s.path)
	}
	if s.open == nil {
		s.letReadersFirst()
		db, err := s.db(false)
		if err != nil {
			return err
		}
		s.open = db
	}
	err := fn(s.open)
	s.used = time.Now()
	if err != nil || release || s.readerWaits() {
		// (After a failed transaction the file is opened afresh.)
		s.closeDB()
	} else {
		s.idle.Reset(holdIdle)
	}
	return err
}

// letReadersFirst waits until no reader holds PATH.readers (each holds it
// until done), for at most readersWait. A reader that holds it longer (a
// stopped `reconciler status`) is then not waited for, nor closed for,
// during readersIgnore: it would stall every write.
func (s *Store) letReadersFirst() {
	if time.Now().Before(s.ignoreReaders) {
		return
	}
	deadline := time.Now().Add(readersWait)
	for !s.noReader() {
		if time.Now().After(deadline) {
			s.ignoreReaders = time.Now().Add(readersIgnore)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readerWaits says whether a reader holds PATH.readers (false while they
// are ignored).
func (s *Store) readerWaits() bool {
	return !time.Now().Before(s.ignoreReaders) && !s.noReader()
}

// noReader says whether no reader holds PATH.readers, by taking it
// exclusively for an instant.
func (s *Store) noReader() bool {
	fd := int(s.readers.Fd())
	if syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false
	}
	_ = syscall.Flock(fd, syscall.LOCK_UN)
	return true
}

func (s *Store) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.used) >= holdIdle {
		s.closeDB()
	}
}

// closeDB closes the writer's file; s.mu is held.
func (s *Store) closeDB() {
	if s.open != nil {
		_ = s.open.Close()
		s.open = nil
	}
}

func recordKey(k store.Key) []byte { return []byte(k.Kind + "/" + k.Name) }

// Stored values are an 8-byte version followed by the record's JSON.
func split(v []byte) (int64, []byte) {
	if len(v) < 8 {
		return 0, nil
	}
	return int64(binary.BigEndian.Uint64(v[:8])), v[8:]
}

func join(version int64, b []byte) []byte {
	out := make([]byte, 8+len(b))
	binary.BigEndian.PutUint64(out, uint64(version))
	copy(out[8:], b)
	return out
}

// Get implements store.Store.
func (s *Store) Get(_ context.Context, key store.Key) (*store.Record, error) {
	var rec *store.Record
	err := s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketRecords).Get(recordKey(key))
		if v == nil {
			return fmt.Errorf("%s: %w", key, store.ErrNotFound)
		}
		var err error
		rec, err = decodeStored(v)
		return err
	})
	return rec, err
}

func decodeStored(v []byte) (*store.Record, error) {
	version, b := split(v)
	return store.DecodeRecord(b, version)
}

// List implements store.Store.
func (s *Store) List(_ context.Context, kind string) ([]*store.Record, error) {
	var out []*store.Record
	err := s.read(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketRecords).Cursor()
		prefix := []byte(kind + "/")
		k, v := c.First()
		if kind != "" {
			k, v = c.Seek(prefix)
		}
		for ; k != nil && (kind == "" || strings.HasPrefix(string(k), string(prefix))); k, v = c.Next() {
			rec, err := decodeStored(v)
			if err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	}, true)
	store.SortRecords(out)
	return out, err
}

// Versions implements store.Versioned: a walk of the kind's keys in the
// versions bucket (of a schema 1 file open read-only, the records' version
// prefixes).
func (s *Store) Versions(_ context.Context, kind string) (map[string]int64, error) {
	out := map[string]int64{}
	err := s.view(func(tx *bolt.Tx) error {
		bucket := tx.Bucket(bucketVersions)
		if bucket == nil {
			bucket = tx.Bucket(bucketRecords)
		}
		c := bucket.Cursor()
		prefix := []byte(kind + "/")
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			version, _ := split(v)
			out[string(k[len(prefix):])] = version
		}
		return nil
	})
	return out, err
}

// Put implements store.Store.
func (s *Store) Put(_ context.Context, rec *store.Record) (*store.Record, error) {
	b, err := store.EncodeRecord(rec)
	if err != nil {
		return nil, err
	}
	var out *store.Record
	err = s.update(func(tx *bolt.Tx) error {
		version, err := putRecord(tx, rec, b)
		if err != nil {
			return err
		}
		out, err = store.DecodeRecord(b, version)
		return err
	})
	return out, err
}

// PutAll implements store.Batch: every record in one transaction, so one
// open of the file and one sync for all (a Put is both, each time).
func (s *Store) PutAll(_ context.Context, recs []*store.Record) []store.PutResult {
	out := make([]store.PutResult, len(recs))
	data := make([][]byte, len(recs))
	versions := make([]int64, len(recs))
	for i, rec := range recs {
		data[i], out[i].Err = store.EncodeRecord(rec)
	}
	err := s.update(func(tx *bolt.Tx) error {
		for i, rec := range recs {
			if out[i].Err == nil {
				versions[i], out[i].Err = putRecord(tx, rec, data[i])
			}
		}
		return nil
	})
	for i := range out {
		switch {
		case out[i].Err != nil:
		case err != nil:
			out[i].Err = err // not committed: none written
		default:
			out[i].Record, out[i].Err = store.DecodeRecord(data[i], versions[i])
		}
	}
	return out
}

// putRecord writes a record's JSON (putVersioned) and its new version.
func putRecord(tx *bolt.Tx, rec *store.Record, data []byte) (int64, error) {
	key := recordKey(rec.Key)
	version, err := putVersioned(tx.Bucket(bucketRecords), key, rec.Version, data, "put "+rec.Key.String())
	if err != nil {
		return 0, err
	}
	return version, tx.Bucket(bucketVersions).Put(key, binary.BigEndian.AppendUint64(nil, uint64(version)))
}

// putVersioned is the compare-and-set of every write: it stores data under
// key only if the stored version is want, and returns the new version.
func putVersioned(bucket *bolt.Bucket, key []byte, want int64, data []byte, what string) (int64, error) {
	cur, _ := split(bucket.Get(key))
	if cur != want {
		return 0, fmt.Errorf("%s at version %d, stored %d: %w", what, want, cur, store.ErrConflict)
	}
	if err := bucket.Put(key, join(cur+1, data)); err != nil {
		return 0, err
	}
	return cur + 1, nil
}

// Delete implements store.Store.
func (s *Store) Delete(_ context.Context, key store.Key, version int64) error {
	return s.update(func(tx *bolt.Tx) error {
		bucket := tx.Bucket(bucketRecords)
		v := bucket.Get(recordKey(key))
		if v == nil {
			return fmt.Errorf("%s: %w", key, store.ErrNotFound)
		}
		if cur, _ := split(v); cur != version {
			return fmt.Errorf("delete %s at version %d, stored %d: %w", key, version, cur, store.ErrConflict)
		}
		if err := tx.Bucket(bucketVersions).Delete(recordKey(key)); err != nil {
			return err
		}
		return bucket.Delete(recordKey(key))
	})
}

// GetMeta implements store.Store.
func (s *Store) GetMeta(context.Context) (*store.Meta, error) {
	var m *store.Meta
	err := s.view(func(tx *bolt.Tx) error {
		version, b := split(tx.Bucket(bucketInfo).Get(keyMeta))
		var err error
		m, err = store.DecodeMeta(b, version)
		return err
	})
	return m, err
}

// PutMeta implements store.Store.
func (s *Store) PutMeta(_ context.Context, m *store.Meta) (*store.Meta, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var out *store.Meta
	err = s.update(func(tx *bolt.Tx) error {
		version, err := putVersioned(tx.Bucket(bucketInfo), keyMeta, m.Version, b, "put meta")
		if err != nil {
			return err
		}
		out, err = store.DecodeMeta(b, version)
		return err
	})
	return out, err
}

// Close closes the file and releases the writer lock.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil
	}
	if s.idle != nil {
		s.idle.Stop()
	}
	s.closeDB()
	if s.readers != nil {
		s.readers.Close()
	}
	err := s.lock.Close() // closing the descriptor releases the flock
	s.lock = nil
	return err
}

// Campaign implements store.Elector: the writer lock taken by Open is the
// leadership, held until Close.
func (s *Store) Campaign(ctx context.Context) (store.Leadership, error) {
	if s.readOnly {
		return nil, fmt.Errorf("store %s is open read-only: %w", s.path, store.ErrNotLeader)
	}
	return &fileLeadership{lost: make(chan struct{})}, ctx.Err()
}

type fileLeadership struct{ lost chan struct{} }

func (l *fileLeadership) Lost() <-chan struct{} { return l.lost }
func (l *fileLeadership) Resign() error         { return nil }
