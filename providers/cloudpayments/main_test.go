package cloudpayments

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind (HTTP connections).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
