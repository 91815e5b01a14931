package store_test

import (
	"testing"

	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/internal/store/storetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, o storetest.Options) store.Store {
		return store.NewMemory(store.MemoryOptions{MaxEvents: o.MaxEvents})
	})
}
