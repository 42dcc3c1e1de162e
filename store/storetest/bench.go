package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/sparkmesos/reconciler/store"
)

// Objects is how many records the benchmarks keep in the store.
const Objects = 10_000

func sampleRecord(i int) *store.Record {
	r := &store.Record{Key: store.Key{Kind: "SparkApplication", Name: fmt.Sprintf("app-%05d", i)},
		SpecHash: "3ab186fa1299f5338c46", Revision: "main@sha1:0123456789abcdef",
		Status: store.Status{Phase: "Running", Message: "driver running"}}
	r.AddSubmission(store.Submission{ID: fmt.Sprintf("driver-20261122000000-%04d", i), SpecHash: r.SpecHash, State: "RUNNING"}, 0)
	for j := 0; j < 5; j++ {
		r.AddEvent(store.Event{Type: "Normal", Reason: "Submitted", Message: "submitted"})
	}
	return r
}

// Fill writes Objects records and returns them with their versions.
func Fill(b *testing.B, s store.Store) []*store.Record {
	b.Helper()
	recs := make([]*store.Record, Objects)
	for i := range recs {
		r, err := s.Put(context.Background(), sampleRecord(i))
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = r
	}
	return recs
}

// BenchWrites measures updates (compare-and-set) of existing records, cycling
// through the 10,000; ns/op is the time of one write.
func BenchWrites(b *testing.B, s store.Store) {
	recs := Fill(b, s)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		r := recs[i%len(recs)]
		r.Status.Message = fmt.Sprint(i)
		got, err := s.Put(context.Background(), r)
		if err != nil {
			b.Fatal(err)
		}
		recs[i%len(recs)] = got
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchPutAll measures updates of existing records written together
// (store.PutAll) 256 at a time, as run records what it observed, cycling
// through the 10,000; ns/op is the time of one batch.
func BenchPutAll(b *testing.B, s store.Store) {
	const batch = 256
	recs := Fill(b, s)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		part := make([]*store.Record, batch)
		for j := range part {
			part[j] = recs[(i+j)%len(recs)]
			part[j].Status.Message = fmt.Sprint(i)
		}
		for j, res := range store.PutAll(context.Background(), s, part) {
			if res.Err != nil {
				b.Fatal(res.Err)
			}
			recs[(i+j)%len(recs)] = res.Record
		}
		i += batch
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "writes/s")
}

// BenchReads measures reads of single records among 10,000.
func BenchReads(b *testing.B, s store.Store) {
	recs := Fill(b, s)
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := s.Get(context.Background(), recs[i%len(recs)].Key); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

// BenchVersions measures one listing of the versions of the 10,000 records
// (store.Versioned), what a pass asks of the store; ns/op is one listing.
func BenchVersions(b *testing.B, s store.Store) {
	Fill(b, s)
	vs := s.(store.Versioned)
	b.ResetTimer()
	for b.Loop() {
		got, err := vs.Versions(context.Background(), "SparkApplication")
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != Objects {
			b.Fatalf("%d versions, want %d", len(got), Objects)
		}
	}
}
