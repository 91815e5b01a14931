package config_test

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/config"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var secrets = map[string]string{
	"BOND_IDENTITY": "id", "BOND_AUTHORIZATION": "auth", "BOND_WEBHOOK_SECRET": "whsec_x",
	"ATELIO_IDENTITY": "id2", "ATELIO_AUTHORIZATION": "auth2", "ATELIO_WEBHOOK_SECRET": "whsec_y",
	"CLOUDPAYMENTS_API_KEY": "key",
	"GLOBEX_API_KEYS":       "globex-key-number-one-0001, globex-key-number-two-0002",
}

// TestExampleFile keeps the example in the repository loadable.
func TestExampleFile(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "kycgw.example.yaml")
	c, err := config.Load(path, env(secrets))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Providers) != 3 {
		t.Fatalf("%d providers", len(c.Providers))
	}
	bond, cp := c.Providers[0], c.Providers[2]
	if bond.Identity != "id" || bond.Authorization != "auth" || bond.WebhookSecret != "whsec_x" || bond.Timeout != config.Duration(15*time.Second) ||
		bond.SignatureTolerance != config.Duration(5*time.Minute) {
		t.Fatalf("bond = %+v", bond)
	}
	if cp.APIKey != "key" || cp.TenantName == "" || cp.PollInterval != config.Duration(5*time.Second) {
		t.Fatalf("cloudpayments = %+v", cp)
	}
	if len(c.Tenants) != 2 || len(c.Tenants[0].KeyHashes) != 1 || len(c.Tenants[1].KeyHashes) != 2 ||
		c.Tenants[1].KeyHashes[0] != sha256.Sum256([]byte("globex-key-number-one-0001")) {
		t.Fatalf("tenants = %+v", c.Tenants)
	}
}

const sandboxProvider = "providers:\n  - {name: bond, type: bond, sandbox: true}\n"

func TestTenants(t *testing.T) {
	// All-sandbox without tenants: the dev tenant with the documented key.
	c, err := config.Parse([]byte(sandboxProvider), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Tenants) != 1 || c.Tenants[0].KeyHashes[0] != sha256.Sum256([]byte(config.DevAPIKey)) {
		t.Fatalf("tenants = %+v", c.Tenants)
	}
	real := "providers:\n  - {name: bond, type: bond, base_url: 'https://b/api', identity_env: BOND_IDENTITY, authorization_env: BOND_AUTHORIZATION, webhook_secret_env: BOND_WEBHOOK_SECRET}\n"
	hash := strings.Repeat("ab", 32)
	cases := []struct{ name, yaml, want string }{
		{"real providers need tenants", real, "tenants: required"},
		{"bad hash", sandboxProvider + "tenants:\n  - {name: a, api_key_sha256: [xyz], providers: [bond]}\n", "tenants[0].api_key_sha256[0]"},
		{"no key", sandboxProvider + "tenants:\n  - {name: a, providers: [bond]}\n", "tenants[0].api_key_sha256: at least one"},
		{"unknown provider", sandboxProvider + "tenants:\n  - {name: a, api_key_sha256: [" + hash + "], providers: [nope]}\n", `tenants[0].providers[0]: "nope"`},
		{"no providers", sandboxProvider + "tenants:\n  - {name: a, api_key_sha256: [" + hash + "]}\n", "tenants[0].providers: required"},
		{"shared key", sandboxProvider + "tenants:\n  - {name: a, api_key_sha256: [" + hash + "], providers: [bond]}\n  - {name: b, api_key_sha256: [" + hash + "], providers: [bond]}\n", `shared with tenant "a"`},
		{"bad program", sandboxProvider + "tenants:\n  - {name: a, api_key_sha256: [" + hash + "], providers: [bond], programs: [p1]}\n", "tenants[0].programs[0]: must be a UUID"},
		{"short env key", sandboxProvider + "tenants:\n  - {name: a, api_keys_env: SHORT, providers: [bond]}\n", "at least 16 characters"},
		{"empty env", sandboxProvider + "tenants:\n  - {name: a, api_keys_env: UNSET, providers: [bond]}\n", "UNSET is empty or unset"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml), env(map[string]string{"SHORT": "abc", "BOND_IDENTITY": "i", "BOND_AUTHORIZATION": "a", "BOND_WEBHOOK_SECRET": "w"}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"empty", `providers: []`, "providers: at least one"},
		{"unknown key", "providers:\n  - name: bond\n    type: bond\n    sandbox: true\n    base_ulr: x\n", "base_ulr"},
		{"missing type", "providers:\n  - name: bond\n", "providers[0].type: required"},
		{"unknown type", "providers:\n  - name: bond\n    type: bnd\n", `providers[0].type: unknown type "bnd"`},
		{"bad name", "providers:\n  - name: Bond!\n    type: bond\n    sandbox: true\n", "providers[0].name"},
		{"duplicate", "providers:\n  - {name: bond, type: bond, sandbox: true}\n  - {name: bond, type: bond, sandbox: true}\n", `providers[1].name: "bond" is configured twice`},
		{"missing url", "providers:\n  - {name: bond, type: bond, identity_env: BOND_IDENTITY, authorization_env: BOND_AUTHORIZATION, webhook_secret_env: BOND_WEBHOOK_SECRET}\n", "providers[0].base_url: required"},
		{"plain http", "providers:\n  - {name: bond, type: bond, base_url: 'http://bond.example/api/v0.1', identity_env: BOND_IDENTITY, authorization_env: BOND_AUTHORIZATION, webhook_secret_env: BOND_WEBHOOK_SECRET}\n", "must use https"},
		{"unset secret", "providers:\n  - {name: bond, type: bond, base_url: 'https://b/api', identity_env: NOPE, authorization_env: BOND_AUTHORIZATION, webhook_secret_env: BOND_WEBHOOK_SECRET}\n", "providers[0].identity_env: environment variable NOPE is empty"},
		{"missing secret key", "providers:\n  - {name: bond, type: bond, base_url: 'https://b/api', authorization_env: BOND_AUTHORIZATION, webhook_secret_env: BOND_WEBHOOK_SECRET}\n", "providers[0].identity_env: required"},
		{"bad duration", "providers:\n  - {name: cp, type: cloudpayments, sandbox: true, poll_interval: often}\n", "not a duration"},
		{"mixed keys", "providers:\n  - {name: cp, type: cloudpayments, sandbox: true, identity_env: X}\n", "providers[0].type: cloudpayments instances"},
		{"cp tenant", "providers:\n  - {name: cp, type: cloudpayments, base_url: 'https://cp', api_key_env: CLOUDPAYMENTS_API_KEY}\n", "providers[0].tenant_name: required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte(tc.yaml), env(secrets))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSecretsComeFromTheEnvironmentOnly(t *testing.T) {
	// A secret written into the file is an unknown key, not a credential.
	_, err := config.Parse([]byte("providers:\n  - {name: bond, type: bond, sandbox: true, identity: abc}\n"), env(nil))
	if err == nil {
		t.Fatal("a literal secret in the file was accepted")
	}
	if _, err := os.Stat("/nonexistent/kycgw.yaml"); err == nil {
		t.Skip()
	}
	if _, err := config.Load("/nonexistent/kycgw.yaml", env(nil)); err == nil {
		t.Fatal("missing file accepted")
	}
}
