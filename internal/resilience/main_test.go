package resilience_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (connections, timers).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
