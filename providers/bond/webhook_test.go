package bond

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kycgw/kycgw/providers"
)

const testSecret = "whsec_ira5jceuzhxxBxoWckAU0hLFQe79bSMZ"

func newTestClient(t testing.TB, secret string) *Client {
	t.Helper()
	c, err := New(Config{Name: "bond", BaseURL: "http://127.0.0.1:1/api/v0.1", Identity: "i", Authorization: "a", WebhookSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testSign is written here, not shared with verify, so the test checks the algorithm.
func testSign(secret string, ts int64, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(ts, 10) + "." + body))
	return hex.EncodeToString(m.Sum(nil))
}

func signedHeader(secret string, ts int64, body string) http.Header {
	h := http.Header{}
	h.Set("Bond-Signature", "t="+strconv.FormatInt(ts, 10)+",v2="+testSign(secret, ts, body))
	return h
}

// The documented test vector, provider-apis.md §1.11.
func TestSignatureTestVector(t *testing.T) {
	const (
		ts   = 1598980451
		body = `{"event":"kyc.verification.success","customer_id":"931e2341-c3eb-4681-97d4-f6e09d90da14","occurred_at":"2021-10-20T10:27:20.154286+00:00"}`
		v2   = "32386d5c5c311166d29135678bfca1c3403bbaa5e23acdd3d80bc2213bf4b7da"
		py   = `{"event": "kyc.verification.success", "customer_id": "931e2341-c3eb-4681-97d4-f6e09d90da14", "occurred_at": "2021-10-20T10:27:20.154286+00:00"}`
		v1   = "b03068358cb43eb7094ae77cfb6a888c29f7154406f47a39e92fe1cde0a1e6ad"
	)
	if got := testSign(testSecret, ts, body); got != v2 {
		t.Fatalf("test signer: got %s, want %s", got, v2)
	}
	c := newTestClient(t, testSecret)
	now := time.Unix(ts, 0)
	for _, tc := range []struct {
		name, header, body string
	}{
		{"v2 only", "t=1598980451,v2=" + v2, body},
		{"v1 and v2 as Bond sends them", "t=1598980451,v1=" + v1 + ",v2=" + v2, body},
		{"spaces after commas", "t=1598980451, v1=" + v1 + ", v2=" + v2, body},
		{"v1 only over a python-form body", "t=1598980451,v1=" + v1, py},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{"Bond-Signature": {tc.header}}
			ns, err := c.ParseWebhook(h, []byte(tc.body), now)
			if err != nil {
				t.Fatalf("got %v, want success", err)
			}
			if len(ns) != 1 || ns[0].Result.Status != providers.StatusPassed || ns[0].Subject.CustomerID != "931e2341-c3eb-4681-97d4-f6e09d90da14" {
				t.Errorf("got %+v", ns)
			}
		})
	}
}

func TestBadSignatures(t *testing.T) {
	const body = `{"event":"kyc.verification.success","customer_id":"931e2341-c3eb-4681-97d4-f6e09d90da14","occurred_at":"2021-10-20T10:27:20.154286+00:00"}`
	now := time.Unix(1598980451, 0)
	good := testSign(testSecret, now.Unix(), body)
	old := now.Add(-6 * time.Minute).Unix()
	future := now.Add(6 * time.Minute).Unix()
	ts := strconv.FormatInt(now.Unix(), 10)
	for _, tc := range []struct {
		name   string
		secret string
		header []string
		body   string
	}{
		{"missing header", testSecret, nil, body},
		{"empty header", testSecret, []string{""}, body},
		{"garbled", testSecret, []string{"nonsense"}, body},
		{"no timestamp", testSecret, []string{"v2=" + good}, body},
		{"bad timestamp", testSecret, []string{"t=soon,v2=" + good}, body},
		{"no signature", testSecret, []string{"t=" + ts}, body},
		{"not hex", testSecret, []string{"t=" + ts + ",v2=zz"}, body},
		{"short mac", testSecret, []string{"t=" + ts + ",v2=" + good[:40]}, body},
		{"wrong v2", testSecret, []string{"t=" + ts + ",v2=" + testSign("whsec_other", now.Unix(), body)}, body},
		{"right v1 but wrong v2", testSecret, []string{"t=" + ts + ",v1=" + good + ",v2=" + testSign("whsec_other", now.Unix(), body)}, body},
		{"tampered body", testSecret, []string{"t=" + ts + ",v2=" + good}, strings.Replace(body, "success", "failure", 1)},
		{"too old", testSecret, []string{"t=" + strconv.FormatInt(old, 10) + ",v2=" + testSign(testSecret, old, body)}, body},
		{"too far in the future", testSecret, []string{"t=" + strconv.FormatInt(future, 10) + ",v2=" + testSign(testSecret, future, body)}, body},
		{"huge timestamp", testSecret, []string{"t=9223372036854775807,v2=" + good}, body},
		{"no secret configured", "", []string{"t=" + ts + ",v2=" + good}, body},
		{"secret without prefix", "ira5jceuzhxxBxoWckAU0hLFQe79bSMZ", []string{"t=" + ts + ",v2=" + good}, body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, tc.secret)
			h := http.Header{}
			for _, v := range tc.header {
				h.Add("Bond-Signature", v)
			}
			ns, err := c.ParseWebhook(h, []byte(tc.body), now)
			if !errors.Is(err, providers.ErrBadSignature) {
				t.Errorf("got %v, %v; want ErrBadSignature", ns, err)
			}
		})
	}
}

const (
	idA = "a5bcf5a8-c4e0-4025-8183-5346176ee3db"
)

var publishedTime = time.Date(2021, 2, 2, 0, 50, 58, 484840000, time.UTC)

func dedupe(event, subjectKey string, at time.Time) string {
	return "bond|" + event + "|" + subjectKey + "|" + at.UTC().Format(time.RFC3339Nano)
}

func bodyHash(body string) string {
	s := sha256.Sum256([]byte(body))
	return "sha256:" + hex.EncodeToString(s[:])
}

func persona(tmpl string) string {
	return "https://withpersona.com/verify?template-id=tmpl_" + strings.Repeat(tmpl, 24) + "&reference-id=" + idA
}

var threeDocs = []providers.Document{
	{Type: "government_id", Status: "required", UploadLink: persona("1")},
	{Type: "utility_bill", Status: "required", UploadLink: persona("2")},
	{Type: "social_security_card", Status: "required", UploadLink: persona("3")},
}

var allPassedChecks = []providers.Check{{Name: "bureau", Result: "passed"}, {Name: "email", Result: "passed"}, {Name: "ip", Result: "passed"}, {Name: "mobile", Result: "passed"}, {Name: "ofac", Result: "failed"}}

// TestParsePublishedPayloads parses every webhook payload of the published documents and of
// provider-apis.md verbatim.
func TestParsePublishedPayloads(t *testing.T) {
	cust := func(id string) providers.Subject { return providers.Subject{CustomerID: id} }
	bo := func(id string) providers.Subject { return providers.Subject{BeneficialOwnerID: id} }
	note := func(s providers.Subject, event string, st providers.Status, at time.Time) providers.Notification {
		n := providers.Notification{Subject: s, Event: event, Result: providers.Result{Status: st, ProviderStatus: event, OccurredAt: at}}
		if st == providers.StatusPassed {
			n.Result.PassedAt = at
		}
		n.Result.NextAction = nextActionFor(st)
		n.DedupeKey = dedupe(event, s.Key(), at)
		return n
	}
	with := func(n providers.Notification, f func(*providers.Result)) providers.Notification {
		f(&n.Result)
		return n
	}

	reenterSeed := publishedPayloads["doc003_reenter_backslashes"]
	reenterRef := `{"customer_id": "ef096b64-7409-40cd-9879-badd905dc6a5", "event": "kyc.verification.reenter_information", "description": "Re enter the below information for this customer's KYC attempt on program a2a0f2fc-ea8f-4ada-ad22-a1fbb0ca138a", "fields": ["first_name","last_name","ssn"]}`
	reenter := func(body string) providers.Notification {
		s := cust("ef096b64-7409-40cd-9879-badd905dc6a5")
		return providers.Notification{
			Subject: s, Event: "kyc.verification.reenter_information",
			Result: providers.Result{
				Status: providers.StatusReenterInformation, ProviderStatus: "kyc.verification.reenter_information",
				NextAction: providers.NextAction{Kind: providers.ActionReenterInformation, Fields: []string{"first_name", "last_name", "ssn"}},
				Reason:     providers.Reason{Description: "Re enter the below information for this customer's KYC attempt on program a2a0f2fc-ea8f-4ada-ad22-a1fbb0ca138a"},
			},
			DedupeKey: "bond|kyc.verification.reenter_information|customer:ef096b64-7409-40cd-9879-badd905dc6a5|" + bodyHash(body),
		}
	}
	personaAt := time.Date(2023, 3, 20, 15, 41, 10, 620021000, time.UTC)
	poBox := providers.Reason{Code: "po_box_failure", Description: "Customer address is a PO Box. Request a new address"}
	const ell = "a5bcf5a8-…" // provider-apis.md abbreviates ids with an ellipsis

	cases := []struct {
		name string
		body string
		want providers.Notification
	}{
		{"doc001 success, dash occurred_at (braces lost in the document's extraction)",
			"{\n       \"event\": \"kyc.verification.success\",\n       \"customer_id\": \"a5bcf5a8-c4e0-4025-8183-5346176ee3db\",\n       \"occurred_at\": \"2021-02-02-00:50:58.484840+00:00\"\n}",
			note(cust(idA), "kyc.verification.success", providers.StatusPassed, publishedTime)},
		{"doc002 BO success", publishedPayloads["doc002_bo_success"],
			note(bo(idA), "kyc.verification.success", providers.StatusPassed, publishedTime)},
		{"doc002 BO failure with reasons object", publishedPayloads["doc002_bo_failure_reasons"],
			with(note(bo(idA), "kyc.verification.failure", providers.StatusFailed, publishedTime), func(r *providers.Result) { r.Checks = allPassedChecks })},
		{"doc002 BO error", publishedPayloads["doc002_bo_error"],
			note(bo(idA), "kyc.verification.error", providers.StatusError, publishedTime)},
		{"doc002 BO timeout", publishedPayloads["doc002_bo_timeout"],
			note(bo(idA), "kyc.verification.timeout", providers.StatusExpired, publishedTime)},
		{"doc002 documents_required typo, trailing comma", publishedPayloads["doc002_documents_required_trailing_comma"],
			with(note(cust(idA), "kyc.verification.documents_required", providers.StatusDocumentsRequired, publishedTime), func(r *providers.Result) {
				r.NextAction.Documents = threeDocs
			})},
		{"doc002 PO box, missing comma", publishedPayloads["doc002_po_box_missing_comma"],
			with(note(cust(idA), "kyc.verification.failure", providers.StatusFailed, publishedTime), func(r *providers.Result) { r.Reason = poBox })},
		{"doc003 success", publishedPayloads["doc003_success"],
			note(cust(idA), "kyc.verification.success", providers.StatusPassed, publishedTime)},
		{"doc003 failure", publishedPayloads["doc003_failure"],
			note(cust(idA), "kyc.verification.failure", providers.StatusFailed, publishedTime)},
		{"doc003 error", publishedPayloads["doc003_error"],
			note(cust(idA), "kyc.verification.error", providers.StatusError, publishedTime)},
		{"doc003 timeout", publishedPayloads["doc003_timeout"],
			note(cust(idA), "kyc.verification.timeout", providers.StatusExpired, publishedTime)},
		{"doc003 document_required, trailing comma", publishedPayloads["doc003_document_required_trailing_comma"],
			with(note(cust(idA), "kyc.verification.document_required", providers.StatusDocumentsRequired, publishedTime), func(r *providers.Result) {
				r.NextAction.Documents = threeDocs
			})},
		{"doc003 reenter_information, Markdown backslashes, no occurred_at", reenterSeed, reenter(reenterSeed)},
		{"ref 1.10 reenter_information", reenterRef, reenter(reenterRef)},
		{"ref 1.10 success, T occurred_at",
			`{"event": "kyc.verification.success", "customer_id": "1d48c087-f68e-48ab-b779-a15a3dca4c27", "occurred_at": "2022-07-15T16:36:46.167945+00:00"}`,
			note(cust("1d48c087-f68e-48ab-b779-a15a3dca4c27"), "kyc.verification.success", providers.StatusPassed, time.Date(2022, 7, 15, 16, 36, 46, 167945000, time.UTC))},
		{"ref 1.10 persona document_required",
			`{"event": "kyc.verification.document_required", "occurred_at": "2023-03-20T15:41:10.620021+00:00", "inquiry_id": "inq_Y8Pe2kSAJ7away95sUUXBpAh", "customer_id": "e413a8e7-f072-4e6d-9589-cea35de849c5", "documents": [{"document_type": "persona", "status": "required", "upload_link": "https://inquiry.withpersona.com/verify?environment=sandbox&inquiry-id=inq_Y8Pe2kSAJ7away95sUUXBpAh"}]}`,
			with(note(cust("e413a8e7-f072-4e6d-9589-cea35de849c5"), "kyc.verification.document_required", providers.StatusDocumentsRequired, personaAt), func(r *providers.Result) {
				r.NextAction.Documents = []providers.Document{{Type: "persona", Status: "required", UploadLink: "https://inquiry.withpersona.com/verify?environment=sandbox&inquiry-id=inq_Y8Pe2kSAJ7away95sUUXBpAh"}}
			})},
		{"ref 1.4 BO failure, reasons object",
			`{"event":"kyc.verification.failure","beneficial_owner_id":"a5bcf5a8-…","occurred_at":"2021-02-02-00:50:58.484840+00:00","reasons":{"ofac":"failed","bureau":"passed","mobile":"passed","ip":"passed","email":"passed"}}`,
			with(note(bo(ell), "kyc.verification.failure", providers.StatusFailed, publishedTime), func(r *providers.Result) { r.Checks = allPassedChecks })},
		{"ref 1.4 foreign BO under_review, reasons string",
			`{"event":"kyc.verification.under_review","beneficial_owner_id":"a5bcf5a8-…","occurred_at":"2021-02-02-00:50:58.484840+00:00","reasons":"Foreign Beneficial Owner"}`,
			with(note(bo(ell), "kyc.verification.under_review", providers.StatusUnderReview, publishedTime), func(r *providers.Result) {
				r.Reason.Description = "Foreign Beneficial Owner"
			})},
		{"ref 1.4 PO box",
			`{"event":"kyc.verification.failure","customer_id":"a5bcf5a8-…","occurred_at":"2021-02-02-00:50:58.484840+00:00","error_code":"po_box_failure","description":"Customer address is a PO Box. Request a new address"}`,
			with(note(cust(ell), "kyc.verification.failure", providers.StatusFailed, publishedTime), func(r *providers.Result) { r.Reason = poBox })},
		{"incorrect_information instead of fields",
			`{"event":"kyc.verification.reenter_information","customer_id":"` + idA + `","occurred_at":"2021-02-02T00:50:58.484840+00:00","incorrect_information":["dob"]}`,
			with(note(cust(idA), "kyc.verification.reenter_information", providers.StatusReenterInformation, publishedTime), func(r *providers.Result) {
				r.NextAction.Fields = []string{"dob"}
			})},
	}
	c := newTestClient(t, testSecret)
	now := time.Now()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.ParseWebhook(signedHeader(testSecret, now.Unix(), tc.body), []byte(tc.body), now)
			if err != nil {
				t.Fatalf("ParseWebhook: %v", err)
			}
			if diff := cmp.Diff([]providers.Notification{tc.want}, got); diff != "" {
				t.Errorf("notification (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWebhookRefusals(t *testing.T) {
	c := newTestClient(t, testSecret)
	now := time.Now()
	for _, tc := range []struct {
		name string
		body string
		want error // nil: acknowledged and ignored
	}{
		{"card event ignored", `{"event":"card.created","card_id":"x"}`, nil},
		{"kyb event ignored", `{"event":"kyb.verification.success","business_id":"x"}`, nil},
		{"customer.updated ignored", `{"event":"customer.updated","customer_id":"x"}`, nil},
		{"unknown kyc event", `{"event":"kyc.verification.kba","customer_id":"` + idA + `"}`, providers.ErrUnknownStatus},
		{"legacy template is not JSON", `{"event": "event.label", "customer_id": "customer_uuid", "verification": "verification_status", "kba_manual_review": False, "occurred_at": "timestamp"}`, providers.ErrMalformed},
		{"no event", `{"customer_id":"` + idA + `"}`, providers.ErrMalformed},
		{"no subject", `{"event":"kyc.verification.success","occurred_at":"2021-02-02T00:50:58.484840+00:00"}`, providers.ErrMalformed},
		{"bad occurred_at", `{"event":"kyc.verification.success","customer_id":"x","occurred_at":"yesterday"}`, providers.ErrMalformed},
		{"zoneless occurred_at", `{"event":"kyc.verification.success","customer_id":"x","occurred_at":"2021-02-02T00:50:58.484840"}`, providers.ErrMalformed},
		{"reasons a number", `{"event":"kyc.verification.failure","customer_id":"x","reasons":5}`, providers.ErrMalformed},
		{"not JSON", `<html>`, providers.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.ParseWebhook(signedHeader(testSecret, now.Unix(), tc.body), []byte(tc.body), now)
			if tc.want == nil {
				if err != nil || len(got) != 0 {
					t.Errorf("got %v, %v; want no notifications and no error", got, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	var use *providers.UnknownStatusError
	body := `{"event":"kyc.verification.kba","customer_id":"x"}`
	_, err := c.ParseWebhook(signedHeader(testSecret, now.Unix(), body), []byte(body), now)
	if !errors.As(err, &use) || use.Value != "kyc.verification.kba" || use.Provider != "bond" {
		t.Errorf("got %v, want *UnknownStatusError for kyc.verification.kba", err)
	}

	big := `{"event":"kyc.verification.success","customer_id":"x","pad":"` + strings.Repeat("a", maxBody) + `"}`
	if _, err := c.ParseWebhook(signedHeader(testSecret, now.Unix(), big), []byte(big), now); !errors.Is(err, providers.ErrMalformed) {
		t.Errorf("oversized body: got %v, want ErrMalformed", err)
	}
}

// The secret is swapped by SubscribeWebhook while webhooks are verified; -race checks it.
func TestSecretSwapWhileVerifying(t *testing.T) {
	c := newTestClient(t, testSecret)
	body := `{"event":"kyc.verification.success","customer_id":"x","occurred_at":"2021-02-02T00:50:58.484840+00:00"}`
	now := time.Now()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				_, _ = c.ParseWebhook(signedHeader(testSecret, now.Unix(), body), []byte(body), now)
			}
		}()
	}
	for j := 0; j < 200; j++ {
		s := testSecret
		if j%2 == 0 {
			s = "whsec_other"
		}
		c.secret.Store(&s)
	}
	wg.Wait()
}

func TestStatusVocabularies(t *testing.T) {
	for raw, want := range map[string]providers.Status{
		"passed": providers.StatusPassed, "failed": providers.StatusFailed,
		"document required": providers.StatusDocumentsRequired, "document_required": providers.StatusDocumentsRequired,
		"under review": providers.StatusUnderReview, "under_review": providers.StatusUnderReview,
		"error": providers.StatusError, "expired": providers.StatusExpired,
		"submitted": providers.StatusPending, "initialized": providers.StatusPending,
		"reenter information": providers.StatusReenterInformation,
	} {
		if got, err := mapKYCStatus("bond", raw); err != nil || got != want {
			t.Errorf("mapKYCStatus(%q): got %v, %v; want %v", raw, got, err, want)
		}
	}
	for _, raw := range []string{"", "Passed", "pending", "approved", "documents required"} {
		if _, err := mapKYCStatus("bond", raw); !errors.Is(err, providers.ErrUnknownStatus) {
			t.Errorf("mapKYCStatus(%q): got %v, want ErrUnknownStatus", raw, err)
		}
	}
}
