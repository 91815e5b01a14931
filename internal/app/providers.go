package app

import (
	"net/http"
	"time"

	"github.com/kycgw/kycgw/internal/config"
	"github.com/kycgw/kycgw/internal/emulator/bondemu"
	"github.com/kycgw/kycgw/providers"
	"github.com/kycgw/kycgw/providers/bond"
)

// newBond builds a Bond-family instance (Bond, Atelio). In the sandbox it gets its own emulator
// with fresh credentials, and the gateway subscribes its own webhook endpoint there.
func newBond(a *App, pc config.Provider) (providers.Provider, error) {
	bc := bond.Config{
		Name:          pc.Name,
		BaseURL:       pc.BaseURL,
		Identity:      pc.Identity,
		Authorization: pc.Authorization,
		WebhookSecret: pc.WebhookSecret,
		RequireIP:     pc.RequireIP,
		HTTPClient:    &http.Client{Timeout: time.Duration(pc.Timeout)},
	}
	if pc.Sandbox {
		bc.Identity, bc.Authorization = randomHex(16), randomHex(32)
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
