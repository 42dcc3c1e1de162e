package zk

import (
	"context"
	"testing"

	"github.com/sparkmesos/reconciler/store/storetest"
	"github.com/sparkmesos/reconciler/store/zk/zktest"
)

func benchStore(b *testing.B) *Store {
	zkc := zktest.Start(b, 1)
	s, err := Open(context.Background(), zkc.URL(newRoot()), Options{SessionTimeout: sessionTimeout})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if _, err := s.Campaign(context.Background()); err != nil {
		b.Fatal(err)
	}
	return s
}

func BenchmarkWrites10k(b *testing.B)   { storetest.BenchWrites(b, benchStore(b)) }
func BenchmarkReads10k(b *testing.B)    { storetest.BenchReads(b, benchStore(b)) }
func BenchmarkPutAll10k(b *testing.B)   { storetest.BenchPutAll(b, benchStore(b)) }
func BenchmarkVersions10k(b *testing.B) { storetest.BenchVersions(b, benchStore(b)) }
