package cpemu_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/kycgw/kycgw/internal/emulator/cpemu"
)

func TestSignUp(t *testing.T) {
	srv := httptest.NewServer(cpemu.New(cpemu.Options{}))
	defer srv.Close()
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	u, err := cpemu.SignUp(context.Background(), c, srv.URL, "signup-user")
	if err != nil {
		t.Fatal(err)
	}
	if u.UUID == "" || u.AccessToken == "" || u.RefreshToken == "" || u.ExpiresIn <= 0 {
		t.Fatalf("SignUp = %+v", u)
	}
	if _, err := cpemu.SignUp(context.Background(), c, srv.URL, "signup-user"); err == nil {
		t.Fatal("a second registration of the same username succeeded")
	}
}
