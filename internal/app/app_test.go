package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/app/apptest"
	"github.com/kycgw/kycgw/internal/config"
	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) {
	redis.SetLogger(app.RedisLogger{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	goleak.VerifyTestMain(m)
}

const program = "72585109-8222-4221-b15b-48e87ffed790"

type gateway struct {
	t      *testing.T
	app    *app.App
	client kycv1.KycServiceClient
	base   string
	http   *http.Client
}

// start runs the gateway exactly as `make run` does, on free ports.
func start(t *testing.T, mutate ...func(*app.Config)) *gateway {
	t.Helper()
	var cfg app.Config
	a, _ := apptest.Start(t, append(mutate, func(c *app.Config) { cfg = *c })...)
	key := config.DevAPIKey
	for _, tn := range cfg.Providers.Tenants {
		if tn.Name != "dev" {
			key = testTenantKey
		}
	}
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithPerRPCCredentials(bearer(key)))
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	g := &gateway{t: t, app: a, client: kycv1.NewKycServiceClient(conn), base: "http://" + a.HTTPAddr(), http: &http.Client{Transport: keyTransport{key, tr}}}
	t.Cleanup(func() {
		conn.Close()
		tr.CloseIdleConnections()
	})
	return g
}

func (g *gateway) ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	g.t.Cleanup(cancel)
	return c
}

func (g *gateway) post(path, body string, hdr map[string]string) (int, map[string]any) {
	g.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, g.base+path, strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := g.http.Do(req)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// testTenantKey is the key of the tenant tests configure when they configure one.
const testTenantKey = "app-test-key-0123456789"

// bearer sends an API key with every gRPC call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// keyTransport sends an API key with every HTTP request (the sandbox ignores it).
type keyTransport struct {
	key  string
	base http.RoundTripper
}

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+k.key)
	}
	return k.base.RoundTrip(r)
}

func customerStart(customer, ssn string) *kycv1.StartRequest {
	return &kycv1.StartRequest{
		Provider: "bond", ProgramId: program,
		Subject:   &kycv1.Subject{Kind: &kycv1.Subject_CustomerId{CustomerId: customer}},
		Applicant: &kycv1.Applicant{Ssn: ssn, Phone: "555-111-2222", PhoneCountryCode: "1", Email: "ada@example.com", Ip: "192.168.1.139"},
	}
}

// until receives events for one verification until one has the wanted status.
func until(t *testing.T, s grpc.ServerStreamingClient[kycv1.StreamEventsResponse], vid string, want kycv1.KycStatus) []*kycv1.Event {
	t.Helper()
	var seen []*kycv1.Event
	for {
		r, err := s.Recv()
		if err != nil {
			t.Fatalf("stream ended waiting for %v (saw %v): %v", want, seen, err)
		}
		if ev := r.GetEvent(); ev.GetVerificationId() == vid {
			seen = append(seen, ev)
			if ev.GetStatus() == want {
				return seen
			}
		}
	}
}

func TestBondPassesThroughSignedWebhook(t *testing.T) {
	g := start(t)
	stream, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.client.Start(g.ctx(), customerStart("931e2341-c3eb-4681-97d4-f6e09d90da14", "123-45-6789"))
	if err != nil {
		t.Fatal(err)
	}
	v := resp.GetVerification()
	if v.GetStatus() != kycv1.KycStatus_KYC_STATUS_PENDING || v.GetProviderStatus() != "submitted" {
		t.Fatalf("Start = %v", v)
	}
	evs := until(t, stream, v.GetVerificationId(), kycv1.KycStatus_KYC_STATUS_PASSED)
	if len(evs) != 2 || evs[0].GetSource() != kycv1.EventSource_EVENT_SOURCE_START ||
		evs[1].GetSource() != kycv1.EventSource_EVENT_SOURCE_WEBHOOK || evs[1].GetProviderEvent() != "kyc.verification.success" ||
		evs[1].GetPreviousStatus() != kycv1.KycStatus_KYC_STATUS_PENDING {
		t.Fatalf("events = %v", evs)
	}
	st, err := g.client.GetStatus(g.ctx(), &kycv1.GetStatusRequest{VerificationId: v.GetVerificationId()})
	if err != nil || st.GetVerification().GetStatus() != kycv1.KycStatus_KYC_STATUS_PASSED || st.GetVerification().GetPassedAt() == nil {
		t.Fatalf("GetStatus = %v, %v", st, err)
	}

	// A second Start for a passed customer is refused, over gRPC and REST, with passed_at.
	_, err = g.client.Start(g.ctx(), customerStart("931e2341-c3eb-4681-97d4-f6e09d90da14", "123-45-6789"))
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Start after PASSED: %v", err)
	}
	var info *errdetails.ErrorInfo
	for _, d := range status.Convert(err).Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	if info.GetReason() != "KYC_ALREADY_PASSED" || info.GetMetadata()["passed_at"] == "" {
		t.Fatalf("ErrorInfo = %v", info)
	}
	code, _ := g.post("/v1/verifications:start", `{"provider":"bond","program_id":"`+program+`","subject":{"customer_id":"931e2341-c3eb-4681-97d4-f6e09d90da14"},"applicant":{"ssn":"123456789"}}`, nil)
	if code != http.StatusConflict {
		t.Fatalf("REST Start after PASSED: %d, want 409", code)
	}
}

func TestRESTWalkthrough(t *testing.T) {
	g := start(t)
	body := `{"provider":"bond","program_id":"` + program + `","subject":{"customer_id":"2df10ec1-130f-41bb-b0cf-f3af48350eb7"},
	  "applicant":{"ssn":"123-45-6789","phone":"555-111-2222","phone_country_code":"1","email":"ada@example.com"}}`
	code, first := g.post("/v1/verifications:start", body, map[string]string{"Idempotency-Key": "walk-1"})
	if code != http.StatusOK || first["replayed"] != false {
		t.Fatalf("start: %d %v", code, first)
	}
	vid := first["verification"].(map[string]any)["verification_id"].(string)
	code, again := g.post("/v1/verifications:start", body, map[string]string{"Idempotency-Key": "walk-1"})
	if code != http.StatusOK || again["replayed"] != true {
		t.Fatalf("replay: %d %v", code, again)
	}
	changed := strings.Replace(body, "ada@example.com", "bob@example.com", 1)
	if code, out := g.post("/v1/verifications:start", changed, map[string]string{"Idempotency-Key": "walk-1"}); code != http.StatusUnprocessableEntity {
		t.Fatalf("reuse: %d %v, want 422", code, out)
	}
	if code, out := g.post("/v1/verifications:start", strings.Replace(body, "123-45-6789", "12-345", 1), nil); code != http.StatusBadRequest ||
		!strings.Contains(out["message"].(string), "applicant.ssn") {
		t.Fatalf("invalid ssn: %d %v", code, out)
	}
	if code, out := g.post("/v1/verifications:start", strings.Replace(body, `"bond"`, `"nobody"`, 1), nil); code != http.StatusBadRequest ||
		!strings.Contains(out["message"].(string), "bond") {
		t.Fatalf("unknown provider: %d %v", code, out)
	}

	// Watch the REST stream until the webhook's PASSED arrives.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/v1/events:stream?after_event_id=0&verification_id="+vid, nil)
	resp, err := g.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var statuses []string
	for sc.Scan() {
		var line struct {
			Result struct {
				Event struct {
					Status string `json:"status"`
				} `json:"event"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("%q: %v", sc.Text(), err)
		}
		statuses = append(statuses, line.Result.Event.Status)
		if line.Result.Event.Status == "KYC_STATUS_PASSED" {
			break
		}
	}
	if strings.Join(statuses, ",") != "KYC_STATUS_PENDING,KYC_STATUS_PASSED" {
		t.Fatalf("REST stream statuses = %v", statuses)
	}
	getResp, err := g.http.Get(g.base + "/v1/verifications/" + vid)
	if err != nil {
		t.Fatal(err)
	}
	defer getResp.Body.Close()
	var got struct {
		Verification struct {
			Status   string `json:"status"`
			PassedAt string `json:"passed_at"`
		} `json:"verification"`
	}
	if err := json.NewDecoder(getResp.Body).Decode(&got); err != nil || got.Verification.Status != "KYC_STATUS_PASSED" || got.Verification.PassedAt == "" {
		t.Fatalf("GET status = %+v, %v", got, err)
	}
}

func TestBondDocumentsRequired(t *testing.T) {
	g := start(t)
	stream, err := g.client.StreamEvents(g.ctx(), &kycv1.StreamEventsRequest{AfterEventId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := g.client.Start(g.ctx(), customerStart("e413a8e7-f072-4e6d-9589-cea35de849c5", "222-22-2222"))
	if err != nil {
		t.Fatal(err)
	}
	evs := until(t, stream, resp.GetVerification().GetVerificationId(), kycv1.KycStatus_KYC_STATUS_DOCUMENTS_REQUIRED)
	docs := evs[len(evs)-1].GetNextAction().GetUploadDocuments().GetDocuments()
	if len(docs) != 2 {
		t.Fatalf("documents = %v, want government_id and proof_of_address", docs)
	}
	for _, d := range docs {
		if d.GetUploadLink() == "" || d.GetStatus() != "required" {
			t.Fatalf("document %v lacks a link or status", d)
		}
	}
}
