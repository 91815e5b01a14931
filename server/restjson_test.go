package server

import (
	"errors"
	"io"
	"strings"
	"testing"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
)

func TestRESTJSONDecoder(t *testing.T) {
	decode := func(body string, v any) error {
		return jsonMarshaler.NewDecoder(strings.NewReader(body)).Decode(v)
	}
	var first kycv1.StartRequest
	if err := decode(`{"provider":"bond","subject":{"customer_id":"c-1"}}`, &first); err != nil {
		t.Fatal(err)
	}
	// The pooled buffer is reused by the next body: what the first message kept must be its own.
	var second kycv1.StartRequest
	if err := decode(`{"provider":"xxxx","subject":{"customer_id":"zzz"}}`, &second); err != nil {
		t.Fatal(err)
	}
	if first.GetProvider() != "bond" || first.GetSubject().GetCustomerId() != "c-1" || second.GetProvider() != "xxxx" {
		t.Fatalf("decoded %v then %v", &first, &second)
	}

	for _, body := range []string{"", " \r\n\t "} {
		var m kycv1.StartRequest
		if err := decode(body, &m); !errors.Is(err, io.EOF) {
			t.Errorf("body %q: %v, want io.EOF (an empty request)", body, err)
		}
	}
	for _, body := range []string{
		`{"provider":"bond"} {"provider":"other"}`, // a second value
		`{"provider":"bond"} x`,                    // junk after the message
		`{"provider":"bond"`,                       // cut short
		`{"surprise":1}`,                           // unknown field
	} {
		var m kycv1.StartRequest
		if err := decode(body, &m); err == nil {
			t.Errorf("body %q accepted", body)
		}
	}

	// A body bound to one field that is not a message goes through grpc-gateway's decoder.
	var s string
	if err := decode(`"just a string"`, &s); err != nil || s != "just a string" {
		t.Errorf("non-message body: %q, %v", s, err)
	}
}
