package store_test

import (
	"testing"

	"github.com/sparkmesos/reconciler/store"
	"github.com/sparkmesos/reconciler/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() }, nil)
}
