// Package config reads kycgw's provider configuration: which provider instances exist, of which
// type, where, and with which credentials. Secrets are never written in the file: the file names
// the environment variables that hold them. A bad configuration fails with a message naming the
// key.
package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Provider types.
const (
	TypeBond          = "bond" // Bond and Atelio (one API family)
	TypeCloudPayments = "cloudpayments"
)

// Config is the file's content.
type Config struct {
	Providers []Provider `yaml:"providers"`
	Tenants   []Tenant   `yaml:"tenants"`
}

// Tenant is one client organisation and its API keys.
type Tenant struct {
	Name string `yaml:"name"`
	// APIKeySHA256 lists the hex SHA-256 of each active API key (several, to rotate keys).
	APIKeySHA256 []string `yaml:"api_key_sha256"`
	// APIKeysEnv names an environment variable holding active keys, comma-separated; they are
	// hashed at load and not kept.
	APIKeysEnv string `yaml:"api_keys_env"`
	// Providers lists the provider instances the tenant may use.
	Providers []string `yaml:"providers"`
	// Programs lists the programs it may verify for; empty means any.
	Programs []string `yaml:"programs"`
	// MaxStreams bounds its concurrent event streams (default 100).
	MaxStreams int `yaml:"max_streams"`

	// KeyHashes are the resolved key hashes.
	KeyHashes [][32]byte `yaml:"-"`
}

// DevAPIKey is the key of the "dev" tenant that an all-sandbox deployment gets when no tenants
// are configured, so the README's calls work as written. It guards nothing but sandbox data;
// with any real provider, tenants must be configured.
const DevAPIKey = "kycgw-dev-key"

// Provider is one provider instance.
type Provider struct {
	// Name is what clients put in StartRequest.provider and what the webhook path carries.
	Name string `yaml:"name"`
	// Type selects the adapter: "bond" (Bond, Atelio) or "cloudpayments".
	Type string `yaml:"type"`
	// Sandbox runs this instance against the gateway's in-process emulator of its type, mounted
	// at /sandbox/<name>/; base_url and credentials are then not used.
	Sandbox bool `yaml:"sandbox"`
	// BaseURL is the API root: for bond, up to /api/v0.1; for cloudpayments, the host.
	BaseURL string `yaml:"base_url"`
	// Timeout bounds one provider call (default 15s).
	Timeout Duration `yaml:"timeout"`

	// Bond/Atelio: the two halves of the API key and the webhook subscription's secret.
	IdentityEnv      string `yaml:"identity_env"`
	AuthorizationEnv string `yaml:"authorization_env"`
	WebhookSecretEnv string `yaml:"webhook_secret_env"`
	// RequireIP makes applicant.ip required (some programs need it).
	RequireIP bool `yaml:"require_ip"`
	// SignatureTolerance is how far a webhook's signed timestamp may be from now (default 5m):
	// older deliveries are refused as replays.
	SignatureTolerance Duration `yaml:"signature_tolerance"`

	// CloudPayments: the tenant, the app key, and how often to poll (default 5s).
	TenantName   string   `yaml:"tenant_name"`
	APIKeyEnv    string   `yaml:"api_key_env"`
	PollInterval Duration `yaml:"poll_interval"`

	// Secrets, resolved from the environment by Load; never read from the file.
	Identity      string `yaml:"-"`
	Authorization string `yaml:"-"`
	WebhookSecret string `yaml:"-"`
	APIKey        string `yaml:"-"`
}

// Duration is a time.Duration written as a Go duration string ("5s").
type Duration time.Duration

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration like 5s or 1m30s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Default is the embedded sandbox: Bond, Atelio and CloudPayments, each against its in-process
// emulator, and the "dev" tenant with DevAPIKey.
func Default() Config {
	c := Config{Providers: []Provider{
		{Name: "bond", Type: TypeBond, Sandbox: true, Timeout: Duration(15 * time.Second)},
		{Name: "atelio", Type: TypeBond, Sandbox: true, Timeout: Duration(15 * time.Second)},
		{Name: "cloudpayments", Type: TypeCloudPayments, Sandbox: true, PollInterval: Duration(time.Second), Timeout: Duration(15 * time.Second)},
	}}
	c.Tenants = []Tenant{devTenant(c.Providers)}
	return c
}

func devTenant(ps []Provider) Tenant {
	t := Tenant{Name: "dev", KeyHashes: [][32]byte{sha256.Sum256([]byte(DevAPIKey))}}
	for _, p := range ps {
		t.Providers = append(t.Providers, p.Name)
	}
	return t
}

// Load reads and checks a configuration file, resolving secrets with getenv.
func Load(path string, getenv func(string) string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, err
	}
	return Parse(b, getenv)
}

// Parse reads and checks a configuration, resolving secrets with getenv.
func Parse(b []byte, getenv func(string) string) (Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt key is an error, not a silent default
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	if err := c.resolve(getenv); err != nil {
		return Config{}, err
	}
	return c, nil
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,62}$`)
var envRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// resolve checks every key and reads the secrets from the environment.
func (c *Config) resolve(getenv func(string) string) error {
	if len(c.Providers) == 0 {
		return errors.New("config: providers: at least one provider is required")
	}
	seen := map[string]bool{}
	var errs []error
	for i := range c.Providers {
		p := &c.Providers[i]
		key := func(k string) string { return fmt.Sprintf("providers[%d].%s", i, k) }
		fail := func(k, msg string, args ...any) {
			errs = append(errs, fmt.Errorf("config: %s: "+msg, append([]any{key(k)}, args...)...))
		}
		secret := func(k, env string) string {
			switch {
			case env == "":
				fail(k, "required (the name of the environment variable holding the secret)")
			case !envRE.MatchString(env):
				fail(k, "%q is not an environment variable name", env)
			default:
				if v := getenv(env); v != "" {
					return v
				}
				fail(k, "environment variable %s is empty or unset", env)
			}
			return ""
		}

		switch {
		case !nameRE.MatchString(p.Name):
			fail("name", "must be lower-case letters, digits, - or _, starting with a letter")
		case seen[p.Name]:
			fail("name", "%q is configured twice", p.Name)
		}
		seen[p.Name] = true
		if p.Timeout == 0 {
			p.Timeout = Duration(15 * time.Second)
		}
		switch p.Type {
		case TypeBond:
			if p.SignatureTolerance == 0 {
				p.SignatureTolerance = Duration(5 * time.Minute)
			}
			if p.TenantName != "" || p.APIKeyEnv != "" || p.PollInterval != 0 {
				fail("type", "bond instances take identity_env, authorization_env and webhook_secret_env, not CloudPayments keys")
			}
			if p.Sandbox {
				continue
			}
			checkURL(p.BaseURL, func(msg string) { fail("base_url", "%s", msg) })
			p.Identity = secret("identity_env", p.IdentityEnv)
			p.Authorization = secret("authorization_env", p.AuthorizationEnv)
			p.WebhookSecret = secret("webhook_secret_env", p.WebhookSecretEnv)
		case TypeCloudPayments:
			if p.IdentityEnv != "" || p.AuthorizationEnv != "" || p.WebhookSecretEnv != "" || p.RequireIP || p.SignatureTolerance != 0 {
				fail("type", "cloudpayments instances take tenant_name and api_key_env, not Bond keys")
			}
			if p.PollInterval == 0 {
				p.PollInterval = Duration(5 * time.Second)
			}
			if p.Sandbox {
				continue
			}
			checkURL(p.BaseURL, func(msg string) { fail("base_url", "%s", msg) })
			if p.TenantName == "" {
				fail("tenant_name", "required")
			}
			p.APIKey = secret("api_key_env", p.APIKeyEnv)
		case "":
			fail("type", "required: %s or %s", TypeBond, TypeCloudPayments)
		default:
			fail("type", "unknown type %q (known: %s, %s)", p.Type, TypeBond, TypeCloudPayments)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.resolveTenants(getenv)
}

func (c *Config) resolveTenants(getenv func(string) string) error {
	if len(c.Tenants) == 0 {
		for _, p := range c.Providers {
			if !p.Sandbox {
				return errors.New("config: tenants: required when a provider is not a sandbox (API keys guard real data)")
			}
		}
		c.Tenants = []Tenant{devTenant(c.Providers)}
		return nil
	}
	providers := map[string]bool{}
	for _, p := range c.Providers {
		providers[p.Name] = true
	}
	seen := map[string]bool{}
	keys := map[[32]byte]string{}
	var errs []error
	for i := range c.Tenants {
		t := &c.Tenants[i]
		fail := func(k, msg string, args ...any) {
			errs = append(errs, fmt.Errorf("config: tenants[%d].%s: "+msg, append([]any{i, k}, args...)...))
		}
		switch {
		case !nameRE.MatchString(t.Name):
			fail("name", "must be lower-case letters, digits, - or _, starting with a letter")
		case seen[t.Name]:
			fail("name", "%q is configured twice", t.Name)
		}
		seen[t.Name] = true
		for j, h := range t.APIKeySHA256 {
			b, err := hex.DecodeString(h)
			if err != nil || len(b) != 32 {
				fail(fmt.Sprintf("api_key_sha256[%d]", j), "must be 64 hex digits (printf %%s \"$KEY\" | sha256sum)")
				continue
			}
			t.KeyHashes = append(t.KeyHashes, [32]byte(b))
		}
		if t.APIKeysEnv != "" {
			v := getenv(t.APIKeysEnv)
			if v == "" {
				fail("api_keys_env", "environment variable %s is empty or unset", t.APIKeysEnv)
			}
			for _, k := range strings.Split(v, ",") {
				if k = strings.TrimSpace(k); len(k) < 16 {
					if k != "" || v != "" {
						fail("api_keys_env", "every key in %s must be at least 16 characters", t.APIKeysEnv)
					}
					continue
				}
				t.KeyHashes = append(t.KeyHashes, sha256.Sum256([]byte(k)))
			}
		}
		if len(t.APIKeySHA256) == 0 && t.APIKeysEnv == "" {
			fail("api_key_sha256", "at least one API key is required (api_key_sha256 or api_keys_env)")
		}
		for _, h := range t.KeyHashes {
			if other, dup := keys[h]; dup && other != t.Name {
				fail("api_key_sha256", "a key is shared with tenant %q", other)
			}
			keys[h] = t.Name
		}
		if len(t.Providers) == 0 {
			fail("providers", "required: the provider instances this tenant may use")
		}
		for j, p := range t.Providers {
			if !providers[p] {
				fail(fmt.Sprintf("providers[%d]", j), "%q is not a configured provider", p)
			}
		}
		for j, p := range t.Programs {
			if !uuidRE.MatchString(p) {
				fail(fmt.Sprintf("programs[%d]", j), "must be a UUID")
			}
		}
		if t.MaxStreams < 0 {
			fail("max_streams", "must not be negative")
		}
	}
	return errors.Join(errs...)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func checkURL(s string, fail func(string)) {
	if s == "" {
		fail("required unless sandbox is true")
		return
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		fail("must be an http(s) URL")
		return
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		fail("must use https (plain http only to localhost)")
	}
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}
