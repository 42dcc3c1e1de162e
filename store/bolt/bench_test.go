package bolt

import (
	"path/filepath"
	"testing"

	"github.com/sparkmesos/reconciler/store/storetest"
)

func benchStore(b *testing.B) *Store {
	s, err := Open(filepath.Join(b.TempDir(), "state.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkWrites10k(b *testing.B)   { storetest.BenchWrites(b, benchStore(b)) }
func BenchmarkReads10k(b *testing.B)    { storetest.BenchReads(b, benchStore(b)) }
func BenchmarkPutAll10k(b *testing.B)   { storetest.BenchPutAll(b, benchStore(b)) }
func BenchmarkVersions10k(b *testing.B) { storetest.BenchVersions(b, benchStore(b)) }
