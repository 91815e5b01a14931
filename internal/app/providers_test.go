package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/config"
	"github.com/kycgw/kycgw/internal/emulator/bondemu"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func boStart(provider, business, owner, ssn string) *kycv1.StartRequest {
	return &kycv1.StartRequest{
		Provider: provider, ProgramId: program,
		Subject: &kycv1.Subject{Kind: &kycv1.Subject_BeneficialOwner{BeneficialOwner: &kycv1.BeneficialOwner{
			BusinessId: business, BeneficialOwnerId: owner,
		}}},
		Applicant: &kycv1.Applicant{Ssn: ssn, Phone: "555-111-2222", PhoneCountryCode: "1", Email: "bo@example.com", Ip: "192.168.1.139"},
	}
}

// TestBondFamilyCustomersAndOwnersPass: a customer and a beneficial owner pass at Bond and at
// Atelio (a second instance of the same adapter), each through its own signed webhooks.
func TestBondFamilyCustomersAndOwnersPass(t *testing.T) {
	g := start(t)
	stream, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	for i, provider := range []string{"bond", "atelio"} {
		cust := customerStart(fmt.Sprintf("1d48c087-f68e-48ab-b779-a15a3dca4c2%d", i), "123-45-6789")
		cust.Provider = provider
		bo := boStart(provider, "b50063df-0b39-43f7-9458-25b08a75d42a", fmt.Sprintf("2d5a1e70-2662-42a3-bb90-52e9bd450a6%d", i), "123-45-6789")
		for _, req := range []*kycv1.StartRequest{cust, bo} {
			resp, err := g.client.Start(g.ctx(), req)
			if err != nil {
				t.Fatalf("%s: %v", provider, err)
			}
			evs := until(t, stream, resp.GetVerification().GetVerificationId(), kycv1.KycStatus_KYC_STATUS_PASSED)
			last := evs[len(evs)-1]
			if last.GetProvider() != provider || last.GetSource() != kycv1.EventSource_EVENT_SOURCE_WEBHOOK {
				t.Fatalf("%s: PASSED event %v", provider, last)
			}
		}
	}
}

func TestBondReenterAndFailure(t *testing.T) {
	g := start(t)
	stream, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	re, err := g.client.Start(g.ctx(), customerStart("ef096b64-7409-40cd-9879-badd905dc6a5", "555-55-5555"))
	if err != nil {
		t.Fatal(err)
	}
	evs := until(t, stream, re.GetVerification().GetVerificationId(), kycv1.KycStatus_KYC_STATUS_REENTER_INFORMATION)
	if f := evs[len(evs)-1].GetNextAction().GetReenterInformation().GetFields(); strings.Join(f, ",") != "first_name,last_name,ssn" {
		t.Fatalf("fields = %v", f)
	}
	fail, err := g.client.Start(g.ctx(), customerStart("a5bcf5a8-c4e0-4025-8183-5346176ee3db", "666-66-6666"))
	if err != nil {
		t.Fatal(err)
	}
	evs = until(t, stream, fail.GetVerification().GetVerificationId(), kycv1.KycStatus_KYC_STATUS_FAILED)
	checks := map[string]string{}
	for _, c := range evs[len(evs)-1].GetChecks() {
		checks[c.GetName()] = c.GetResult()
	}
	if checks["ofac"] != "failed" {
		t.Fatalf("failure checks = %v, want ofac failed", checks)
	}
	// FAILED is final for the attempt: a late webhook cannot move it.
	st, _ := g.client.GetStatus(g.ctx(), &kycv1.GetStatusRequest{VerificationId: fail.GetVerification().GetVerificationId()})
	if st.GetVerification().GetStatus() != kycv1.KycStatus_KYC_STATUS_FAILED {
		t.Fatalf("GetStatus = %v", st)
	}
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestConfiguredInstance runs a provider from a configuration file against an emulator that is
// not mounted in the gateway, with every credential taken from the environment.
func TestConfiguredInstance(t *testing.T) {
	emu := bondemu.New(bondemu.Options{Identity: "ident", Authorization: "auth-secret", WebhookDelay: 20 * time.Millisecond})
	defer emu.Close()
	provider := httptest.NewServer(emu)
	defer provider.Close()

	httpAddr := freePort(t)
	// The operator subscribes the gateway's endpoint once and keeps the secret.
	sub, _ := http.NewRequest(http.MethodPost, provider.URL+"/api/v0.1/webhooks",
		strings.NewReader(`{"url":"http://`+httpAddr+`/webhooks/partner","events":["kyc.*"],"version":"0.1","status":"STATUS_ENABLED"}`))
	sub.Header.Set("Identity", "ident")
	sub.Header.Set("Authorization", "auth-secret")
	resp, err := http.DefaultClient.Do(sub)
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		WebhookSubscription struct {
			Secret string `json:"secret"`
		} `json:"webhook_subscription"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if created.WebhookSubscription.Secret == "" {
		t.Fatal("no subscription secret")
	}

	yaml := fmt.Sprintf("providers:\n  - name: partner\n    type: bond\n    base_url: %s/api/v0.1\n    identity_env: P_ID\n    authorization_env: P_AUTH\n    webhook_secret_env: P_WHSEC\n"+
		"tenants:\n  - {name: acme, api_keys_env: ACME_KEYS, providers: [partner]}\n", provider.URL)
	environment := map[string]string{"P_ID": "ident", "P_AUTH": "auth-secret", "P_WHSEC": created.WebhookSubscription.Secret, "ACME_KEYS": testTenantKey}
	pc, err := config.Parse([]byte(yaml), func(k string) string { return environment[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(app.Config{GRPCAddr: "127.0.0.1:0", HTTPAddr: httpAddr, Providers: pc,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-a.Ready()
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearer(testTenantKey)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := kycv1.NewKycServiceClient(conn)
	c, cancelCall := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancelCall()
	stream, err := client.StreamEvents(c, &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	req := customerStart("931e2341-c3eb-4681-97d4-f6e09d90da14", "123-45-6789")
	req.Provider = "partner"
	r, err := client.Start(c, req)
	if err != nil {
		t.Fatal(err)
	}
	until(t, stream, r.GetVerification().GetVerificationId(), kycv1.KycStatus_KYC_STATUS_PASSED)
	if emu.Submissions() != 1 {
		t.Fatalf("%d submissions", emu.Submissions())
	}
}
