package providers

import (
	"fmt"
	"sort"
)

// Registry holds the configured provider instances by name. It is built explicitly by the
// binary from configuration; nothing registers itself.
type Registry struct {
	byName map[string]Provider
	names  []string
}

// NewRegistry returns a registry of ps. Names must be unique and non-empty.
func NewRegistry(ps ...Provider) (*Registry, error) {
	r := &Registry{byName: make(map[string]Provider, len(ps))}
	for _, p := range ps {
		n := p.Name()
		if n == "" {
			return nil, fmt.Errorf("provider with empty name")
		}
		if _, dup := r.byName[n]; dup {
			return nil, fmt.Errorf("provider %q configured twice", n)
		}
		r.byName[n] = p
		r.names = append(r.names, n)
	}
	sort.Strings(r.names)
	return r, nil
}

// Get returns the named provider, or an *UnknownProviderError listing the configured names.
func (r *Registry) Get(name string) (Provider, error) {
	if p, ok := r.byName[name]; ok {
		return p, nil
	}
	return nil, &UnknownProviderError{Name: name, Known: r.Names()}
}

// Names returns the configured names, sorted.
func (r *Registry) Names() []string { return append([]string(nil), r.names...) }
