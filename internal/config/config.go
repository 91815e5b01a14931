// Package config reads kycgw's provider configuration: which provider instances exist, of which
// type, where, and with which credentials. Secrets are never written in the file: the file names
// the environment variables that hold them. A bad configuration fails with a message naming the
// key.
package config

import (
	"bytes"
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
}

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
// emulator.
func Default() Config {
	return Config{Providers: []Provider{
		{Name: "bond", Type: TypeBond, Sandbox: true, Timeout: Duration(15 * time.Second)},
		{Name: "atelio", Type: TypeBond, Sandbox: true, Timeout: Duration(15 * time.Second)},
		{Name: "cloudpayments", Type: TypeCloudPayments, Sandbox: true, PollInterval: Duration(time.Second), Timeout: Duration(15 * time.Second)},
	}}
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
			if p.IdentityEnv != "" || p.AuthorizationEnv != "" || p.WebhookSecretEnv != "" || p.RequireIP {
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
	return errors.Join(errs...)
}

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
