package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"hash"
	"sync"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/providers"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// deriveKey derives an independent key for one purpose from the configured secret.
func deriveKey(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// verificationID derives the stable id of a verification: the same tenant, provider, program
// and subject always name the same verification, on every replica, without a lookup.
func verificationID(tenant, provider, programID string, subject providers.Subject) string {
	h := sha256.New()
	for _, part := range []string{tenant, provider, programID, subject.Key()} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return "vrf_" + lowerBase32.EncodeToString(h.Sum(nil)[:20])
}

// idempotencyScope is the store key of a client's idempotency key: scoped by tenant, hashed
// so a hostile key cannot shape store keys.
func idempotencyScope(tenant, key string) string {
	sum := sha256.Sum256([]byte("kycgw/idempotency\x00" + tenant + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// providerIdempotencyKey is what the gateway forwards to the provider: derived from the
// client's key, so a retry after a crash carries the same key and the provider refuses a
// second submission; random when the client sent none.
func providerIdempotencyKey(tenant, key string) string {
	if key == "" {
		var b [16]byte
		_, _ = rand.Read(b[:])
		return "kycgw-" + hex.EncodeToString(b[:])
	}
	sum := sha256.Sum256([]byte("kycgw/provider-key\x00" + tenant + "\x00" + key))
	return "kycgw-" + hex.EncodeToString(sum[:16])
}

// fingerprinter identifies a request's content: a keyed hash of its deterministic protobuf
// encoding without the idempotency key, so the same request over REST and gRPC compares equal.
// It is keyed because the request holds personal data that a bare hash would let anyone with
// store access confirm by guessing. Keyed hashes are pooled: keying one per request cost two
// SHA-256 blocks and its allocations.
type fingerprinter struct{ macs sync.Pool }

func newFingerprinter(key []byte) *fingerprinter {
	f := &fingerprinter{}
	f.macs.New = func() any { return hmac.New(sha256.New, key) }
	return f
}

func (f *fingerprinter) fingerprint(req *kycv1.StartRequest) (string, error) {
	// The key is left out by clearing it for the encoding and putting it back: the request
	// is this call's own, and a copy of it cost a third of the fingerprint.
	key := req.IdempotencyKey
	req.IdempotencyKey = ""
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(req)
	req.IdempotencyKey = key
	if err != nil {
		return "", err
	}
	m := f.macs.Get().(hash.Hash)
	defer f.macs.Put(m)
	m.Reset()
	m.Write(b)
	var sum [sha256.Size]byte
	return hex.EncodeToString(m.Sum(sum[:0])), nil
}

// Stored outcomes: a tag byte, then the protobuf encoding.
const (
	outcomeResponse byte = 1
	outcomeError    byte = 2
)

func encodeOutcome(resp *kycv1.StartResponse, rpcErr error) ([]byte, error) {
	if rpcErr == nil {
		b, err := proto.Marshal(resp)
		return append([]byte{outcomeResponse}, b...), err
	}
	b, err := proto.Marshal(status.Convert(rpcErr).Proto())
	return append([]byte{outcomeError}, b...), err
}

var errBadOutcome = errors.New("stored idempotency outcome is corrupt")

// decodeOutcome returns the stored response (marked replayed) or the stored error.
func decodeOutcome(b []byte) (*kycv1.StartResponse, error, error) {
	if len(b) == 0 {
		return nil, nil, errBadOutcome
	}
	switch b[0] {
	case outcomeResponse:
		resp := &kycv1.StartResponse{}
		if err := proto.Unmarshal(b[1:], resp); err != nil {
			return nil, nil, errBadOutcome
		}
		resp.Replayed = true
		return resp, nil, nil
	case outcomeError:
		st := &spb.Status{}
		if err := proto.Unmarshal(b[1:], st); err != nil || st.GetCode() == 0 {
			// An "error" with code OK would replay as an empty success.
			return nil, nil, errBadOutcome
		}
		return nil, status.ErrorProto(st), nil
	}
	return nil, nil, errBadOutcome
}
