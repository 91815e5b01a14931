package app_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func (g *gateway) readyChecks() map[string]string {
	g.t.Helper()
	resp, err := g.http.Get(g.base + "/readyz")
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return body.Checks
}

// TestProviderOutageOpensBreaker: a 5xx burst at the provider opens its breaker, Starts then
// fail fast with UNAVAILABLE, /readyz shows it, and the gateway stays ready for everything else.
func TestProviderOutageOpensBreaker(t *testing.T) {
	g := start(t)
	if got := g.readyChecks()["provider:bond"]; got != "breaker closed" {
		t.Fatalf("provider:bond = %q, want breaker closed", got)
	}
	g.put("/sandbox/bond/_sandbox/faults", `{"error_rate":1}`)
	for i := range 5 {
		_, err := g.client.Start(g.ctx(), customerStart("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d", "123-45-6789"))
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("Start %d during the outage: %v, want UNAVAILABLE", i, err)
		}
	}
	if got := g.readyChecks()["provider:bond"]; got != "breaker open" {
		t.Fatalf("provider:bond = %q, want breaker open", got)
	}
	began := time.Now()
	_, err := g.client.Start(g.ctx(), customerStart("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c3d", "123-45-6789"))
	if status.Code(err) != codes.Unavailable || time.Since(began) > 500*time.Millisecond {
		t.Fatalf("Start with the breaker open: %v after %v, want UNAVAILABLE at once", err, time.Since(began))
	}
	if code := g.readyCode(); code != http.StatusOK {
		t.Fatalf("/readyz = %d: one provider's outage must not make the gateway unready", code)
	}
	if got := g.readyChecks()["provider:atelio"]; got != "breaker closed" {
		t.Fatalf("provider:atelio = %q: breakers are per instance", got)
	}
}
