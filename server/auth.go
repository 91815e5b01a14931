package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"slices"
	"strings"
	"sync"

	"github.com/kycgw/kycgw/internal/telemetry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
)

// Tenant is one client organisation: its API keys (as SHA-256 hashes; several are active at
// once so keys can be rotated), the provider instances and programs it may use, and how many
// event streams it may hold open.
type Tenant struct {
	Name      string
	KeyHashes [][sha256.Size]byte
	// Providers lists the provider instances the tenant may use.
	Providers []string
	// Programs lists the programs the tenant may verify for; empty means any.
	Programs []string
	// MaxStreams bounds the tenant's concurrent StreamEvents calls (default 100).
	MaxStreams int
}

// HashKey is the form in which API keys are configured and compared.
func HashKey(key string) [sha256.Size]byte { return sha256.Sum256([]byte(key)) }

func (t *Tenant) allowsProvider(name string) bool { return slices.Contains(t.Providers, name) }

func (t *Tenant) allowsProgram(id string) bool {
	return len(t.Programs) == 0 || slices.Contains(t.Programs, id)
}

// authenticator finds the tenant of an API key.
type authenticator struct {
	tenants []*Tenant
}

// authenticate compares the presented key's hash with every configured hash in constant time
// and without stopping at the first match, so timing says nothing about which keys exist.
func (a *authenticator) authenticate(ctx context.Context) (*Tenant, error) {
	var key string
	// ValueFromIncomingContext reads one key; FromIncomingContext would copy every header.
	for _, v := range metadata.ValueFromIncomingContext(ctx, "authorization") {
		scheme, token, ok := strings.Cut(v, " ")
		if ok && strings.EqualFold(scheme, "bearer") && token != "" {
			key = strings.TrimSpace(token)
			break
		}
	}
	if key == "" {
		return nil, apiError(codes.Unauthenticated, ReasonUnauthenticated,
			"missing API key: send Authorization: Bearer <key>", nil)
	}
	h := HashKey(key)
	var found *Tenant
	for _, t := range a.tenants {
		for _, kh := range t.KeyHashes {
			if subtle.ConstantTimeCompare(h[:], kh[:]) == 1 {
				found = t
			}
		}
	}
	if found == nil {
		return nil, apiError(codes.Unauthenticated, ReasonUnauthenticated, "invalid API key", nil)
	}
	return found, nil
}

// public reports whether a method is served without an API key: health checks (load balancers
// have no key) and reflection (it describes the public API, nothing else).
func public(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

func (a *authenticator) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if public(info.FullMethod) {
		return handler(ctx, req)
	}
	t, err := a.authenticate(ctx)
	if err != nil {
		return nil, err
	}
	return handler(withTenant(ctx, t), req)
}

func (a *authenticator) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if public(info.FullMethod) {
		return handler(srv, ss)
	}
	t, err := a.authenticate(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, &tenantStream{ServerStream: ss, ctx: withTenant(ss.Context(), t)})
}

type tenantStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *tenantStream) Context() context.Context { return s.ctx }

type tenantKey struct{}

func withTenant(ctx context.Context, t *Tenant) context.Context {
	telemetry.SetTenant(ctx, t.Name)
	return context.WithValue(ctx, tenantKey{}, t)
}

// tenantOf is the authenticated tenant. Every KycService call passes the interceptor, so it is
// always set there; an empty tenant matches no stored verification.
func tenantOf(ctx context.Context) *Tenant {
	if t, ok := ctx.Value(tenantKey{}).(*Tenant); ok {
		return t
	}
	return &Tenant{}
}

// streamLimiter counts each tenant's open streams.
type streamLimiter struct {
	mu   sync.Mutex
	open map[string]int
}

func (l *streamLimiter) acquire(t *Tenant) bool {
	limit := t.MaxStreams
	if limit <= 0 {
		limit = 100
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[t.Name] >= limit {
		return false
	}
	l.open[t.Name]++
	return true
}

func (l *streamLimiter) release(t *Tenant) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open[t.Name]--
}
