package seal_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/kycgw/kycgw/internal/seal"
)

func TestSealOpen(t *testing.T) {
	s, err := seal.New(seal.RandomKey())
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("access-token-123")
	box := s.Seal(secret, []byte("key-a"))
	if bytes.Contains(box, secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	got, err := s.Open(box, []byte("key-a"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := s.Open(box, []byte("key-b")); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("Open with other associated data: %v, want ErrOpen", err)
	}
	box[len(box)-1] ^= 1
	if _, err := s.Open(box, []byte("key-a")); !errors.Is(err, seal.ErrOpen) {
		t.Fatalf("Open of an altered value: %v, want ErrOpen", err)
	}
	other, _ := seal.New(seal.RandomKey())
	if _, err := other.Open(s.Seal(secret, nil), nil); !errors.Is(err, seal.ErrOpen) {
		t.Fatal("another key opened the value")
	}
	if _, err := s.Open([]byte("short"), nil); !errors.Is(err, seal.ErrOpen) {
		t.Fatal("a short value opened")
	}
}

func TestParseKey(t *testing.T) {
	k := seal.RandomKey()
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
		got, err := seal.ParseKey(enc.EncodeToString(k))
		if err != nil || !bytes.Equal(got, k) {
			t.Fatalf("ParseKey: %v", err)
		}
	}
	if _, err := seal.ParseKey(base64.StdEncoding.EncodeToString([]byte("short"))); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := seal.ParseKey("not base64!"); err == nil {
		t.Fatal("garbage accepted")
	}
	if _, err := seal.New([]byte("short")); err == nil {
		t.Fatal("New accepted a short key")
	}
}
