package app

import (
	"net/http"
	"time"

	"github.com/kycgw/kycgw/internal/config"
	"github.com/kycgw/kycgw/internal/emulator/bondemu"
	"github.com/kycgw/kycgw/internal/emulator/cpemu"
	"github.com/kycgw/kycgw/internal/resilience"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/bond"
	"github.com/kycgw/kycgw/providers/cloudpayments"
)

// SandboxIdentity and SandboxAuthorization are the API key halves a sandbox Bond-family
// instance named name accepts (the same as kyc-sandbox's defaults).
func SandboxIdentity(name string) string { return "sandbox-" + name + "-identity" }

// SandboxAuthorization: see SandboxIdentity.
func SandboxAuthorization(name string) string { return "sandbox-" + name + "-authorization" }

// newBond builds a Bond-family instance (Bond, Atelio). In the sandbox it gets its own emulator
// with fresh credentials, and the gateway subscribes its own webhook endpoint there.
func newBond(a *App, pc config.Provider) (providers.Provider, error) {
	bc := bond.Config{
		Name:               pc.Name,
		BaseURL:            pc.BaseURL,
		Identity:           pc.Identity,
		Authorization:      pc.Authorization,
		WebhookSecret:      pc.WebhookSecret,
		RequireIP:          pc.RequireIP,
		SignatureTolerance: time.Duration(pc.SignatureTolerance),
		HTTPClient:         &http.Client{Timeout: time.Duration(pc.Timeout), Transport: a.providerTransport(pc)},
	}
	if pc.Sandbox {
		// Well-known, like any provider sandbox's test keys, so the README's calls to the
		// sandbox (simulate, control endpoints) work as written.
		bc.Identity, bc.Authorization = SandboxIdentity(pc.Name), SandboxAuthorization(pc.Name)
		emu := bondemu.New(bondemu.Options{
			Identity: bc.Identity, Authorization: bc.Authorization,
			WebhookDelay: a.cfg.SandboxWebhookDelay,
			Logger:       a.cfg.Logger.With("component", "sandbox", "provider", pc.Name),
		})
		bc.BaseURL = a.mountSandbox(pc.Name, emu, emu.Close) + "/api/v0.1"
	}
	c, err := bond.New(bc)
	if err != nil {
		return nil, err
	}
	if pc.Sandbox {
		a.hooks = append(a.hooks, hook{sub: c, url: a.self + "/webhooks/" + pc.Name})
	}
	return c, nil
}

// newCloudPayments builds a CloudPayments kyc-ms instance. Its sandbox serves tenant "sandbox"
// with api-key "sandbox-api-key", so a newcomer can register users and get tokens from it.
func newCloudPayments(a *App, pc config.Provider) (providers.Provider, error) {
	cc := cloudpayments.Config{
		Name:         pc.Name,
		BaseURL:      pc.BaseURL,
		TenantName:   pc.TenantName,
		APIKey:       pc.APIKey,
		PollInterval: time.Duration(pc.PollInterval),
		HTTPClient:   &http.Client{Timeout: time.Duration(pc.Timeout), Transport: a.providerTransport(pc)},
	}
	if pc.Sandbox {
		emu := cpemu.New(cpemu.Options{
			ReviewDelay: a.cfg.SandboxReviewDelay,
			Logger:      a.cfg.Logger.With("component", "sandbox", "provider", pc.Name),
		})
		cc.TenantName, cc.APIKey = cpemu.DefaultTenantName, cpemu.DefaultAPIKey
		cc.BaseURL = a.mountSandbox(pc.Name, emu, nil)
	}
	return cloudpayments.New(cc)
}

// providerTransport wraps one instance's calls in client-side rate limiting (Bond documents
// 1,000 calls a minute), a circuit breaker, per-attempt timeouts and retries where they are
// safe, and keeps it for /readyz. http.Client.Timeout remains the budget of a whole call.
func (a *App) providerTransport(pc config.Provider) *resilience.Transport {
	o := resilience.Options{Logger: a.cfg.Logger.With("component", "resilience")}
	if pc.Sandbox {
		o.RatePerMinute = -1 // the in-process emulator has no quota
	}
	// Tracing and the request id go on each attempt, so a retry is its own client span.
	tr := resilience.New(pc.Name, a.tracing.Transport(pc.Name, nil), o)
	a.transports = append(a.transports, tr)
	return tr
}
