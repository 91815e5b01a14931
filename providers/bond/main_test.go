package bond

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (the emulator's deliveries,
// HTTP connections).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
