package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/apiconv"
	"github.com/kycgw/kycgw/internal/app"
	"github.com/kycgw/kycgw/internal/app/apptest"
	"github.com/kycgw/kycgw/internal/config"
	"github.com/kycgw/kycgw/internal/emulator/cpemu"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	program   = "72585109-8222-4221-b15b-48e87ffed790"
	passSSN   = "123-45-6789"
	passEmail = "ada@example.com"
	passPhone = "555-111-2222"
)

// gateway is a complete kycgw, as `make run` starts it, on free ports.
type gateway struct {
	addr     string
	httpBase string
	client   kycv1.KycServiceClient // the test's own client, to set up and to cross-check
}

func startGateway(t *testing.T, mutate ...func(*app.Config)) *gateway {
	t.Helper()
	g, _ := startStoppable(t, "127.0.0.1:0", mutate...)
	return g
}

// startStoppable starts a gateway on grpcAddr and also returns its stop, for tests that stop it
// early (the cleanup then has nothing left to do).
func startStoppable(t *testing.T, grpcAddr string, mutate ...func(*app.Config)) (*gateway, func()) {
	t.Helper()
	a, stopApp := apptest.Start(t, append([]func(*app.Config){func(c *app.Config) { c.GRPCAddr = grpcAddr }}, mutate...)...)
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(bearer{key: config.DevAPIKey}))
	if err != nil {
		stopApp()
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			conn.Close()
			stopApp()
		})
	}
	t.Cleanup(stop)
	return &gateway{addr: a.GRPCAddr(), httpBase: "http://" + a.HTTPAddr(), client: kycv1.NewKycServiceClient(conn)}, stop
}

// devEnv is a shell with the sandbox's development key exported.
func devEnv(extra ...string) func(string) string {
	m := map[string]string{defaultKeyEnv: config.DevAPIKey}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return func(k string) string { return m[k] }
}

type result struct {
	code           int
	stdout, stderr string
}

// kycctl runs the command line as a user types it.
func kycctl(t *testing.T, getenv func(string) string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, getenv, &out, &errb)
	return result{code, out.String(), errb.String()}
}

func (r result) String() string {
	return "exit " + strconv.Itoa(r.code) + "\nstdout:\n" + r.stdout + "\nstderr:\n" + r.stderr
}

// startArgs are the flags of a Start the Bond sandbox passes (for ssn 123-45-6789).
func startArgs(addr, customer, ssn string, extra ...string) []string {
	return append([]string{"--addr", addr, "start", "--provider", "bond", "--program-id", program,
		"--customer-id", customer, "--ssn", ssn, "--phone", passPhone, "--phone-country-code", "1",
		"--email", passEmail, "--ip", "192.168.1.139"}, extra...)
}

var vidRE = regexp.MustCompile(`(?m)^verification_id +(vrf_[a-z2-7]{32})$`)

// noSecrets fails if any output carries the API key or the applicant's personal data.
func noSecrets(t *testing.T, rs ...result) {
	t.Helper()
	for _, r := range rs {
		for _, s := range []string{config.DevAPIKey, passSSN, "123456789", passEmail, passPhone, "192.168.1.139"} {
			if strings.Contains(r.stdout, s) || strings.Contains(r.stderr, s) {
				t.Errorf("output carries %q:\n%v", s, r)
			}
		}
	}
}

func TestHelpTeachesTheFlow(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		r := kycctl(t, devEnv(), args...)
		if r.code != exitOK {
			t.Fatalf("%v: %v", args, r)
		}
		for _, want := range []string{"start", "status", "watch", "KYCGW_API_KEY", "--api-key-env", "make run",
			"export KYCGW_API_KEY=kycgw-dev-key", "--until-terminal", "kycctl status vrf_", "--addr", "KYCCTL_ADDR",
			"--tls", "--ca-file", "--cert-file", "--output", "Exit codes", "CURSOR_EXPIRED"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%v: help does not mention %q:\n%s", args, want, r.stdout)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"help", "start"}, []string{"--provider", "--program-id", "--customer-id", "--ssn", "--idempotency-key", "--access-token-env", "--workflow-id"}},
		{[]string{"start", "--help"}, []string{"--provider", "--idempotency-key"}},
		{[]string{"help", "watch"}, []string{"--verification-id", "--from-start", "--after", "--status", "--until-terminal"}},
		{[]string{"status", "-h"}, []string{"VERIFICATION_ID"}},
	} {
		r := kycctl(t, devEnv(), tc.args...)
		if r.code != exitOK {
			t.Fatalf("%v: %v", tc.args, r)
		}
		for _, want := range tc.want {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("%v: help does not mention %q:\n%s", tc.args, want, r.stdout)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no command", nil, "Commands:"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"unknown flag", []string{"status", "--nope", "vrf_x"}, "-nope"},
		{"start without required flags", []string{"start", "--ssn", passSSN}, "--provider, --program-id, a subject"},
		{"two subjects", []string{"start", "--provider", "bond", "--program-id", program, "--customer-id", "a", "--user-id", "b"}, "give one subject"},
		{"half a beneficial owner", []string{"start", "--provider", "bond", "--program-id", program, "--business-id", "a"}, "go together"},
		{"token variable unset", []string{"start", "--provider", "cloudpayments", "--program-id", program, "--user-id", "u", "--access-token-env", "CP_ACCESS"}, "CP_ACCESS is empty or unset"},
		{"status without id", []string{"status"}, "one argument"},
		{"until-terminal without a verification", []string{"watch", "--until-terminal"}, "--until-terminal needs --verification-id"},
		{"after and from-start", []string{"watch", "--after", "1-0", "--from-start"}, "exclude each other"},
		{"unknown status", []string{"watch", "--status", "DONE"}, `unknown status "DONE"`},
		{"bad output", []string{"--output", "yaml", "status", "vrf_x"}, "want text or json"},
		{"cert without key", []string{"--cert-file", "c.pem", "status", "vrf_x"}, "--cert-file and --key-file go together"},
		{"unreadable CA", []string{"--ca-file", "/nonexistent/ca.pem", "status", "vrf_x"}, "--ca-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kycctl(t, devEnv(), tc.args...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("got %v\nwant exit %d and stderr mentioning %q", r, exitUsage, tc.want)
			}
		})
	}
}

func TestMissingAPIKeyIsExplained(t *testing.T) {
	none := func(string) string { return "" }
	r := kycctl(t, none, "status", "vrf_sux76nqm5jm4rf2dxeakxatdoqes5qaz")
	if r.code != exitUsage || !strings.Contains(r.stderr, "no API key: set KYCGW_API_KEY") ||
		!strings.Contains(r.stderr, "export KYCGW_API_KEY=kycgw-dev-key") {
		t.Fatalf("got %v", r)
	}
	// --api-key-env names the variable to read, and the message names it back.
	r = kycctl(t, devEnv(), "--api-key-env", "ACME_KYC_KEY", "status", "vrf_sux76nqm5jm4rf2dxeakxatdoqes5qaz")
	if r.code != exitUsage || !strings.Contains(r.stderr, "ACME_KYC_KEY") {
		t.Fatalf("got %v", r)
	}
}

func TestStartWatchStatus(t *testing.T) {
	g := startGateway(t)
	for _, tc := range []struct{ output, customer string }{
		{"text", helpCustomer},
		{"json", "0c6c2f5e-3b0a-4a86-9d55-7f1c0e2b9a41"},
	} {
		t.Run(tc.output, func(t *testing.T) {
			out := []string{"--output", tc.output}
			start := kycctl(t, devEnv(), append(out, startArgs(g.addr, tc.customer, passSSN)...)...)
			if start.code != exitOK {
				t.Fatalf("start: %v", start)
			}
			var vid string
			if tc.output == "text" {
				m := vidRE.FindStringSubmatch(start.stdout)
				if m == nil {
					t.Fatalf("start printed no verification id:\n%v", start)
				}
				vid = m[1]
				if vid != helpVerification {
					t.Errorf("the help shows %s for customer %s, but start answers %s", helpVerification, helpCustomer, vid)
				}
				for _, want := range []string{"status           PENDING (provider: submitted)", "next_action      none",
					"replayed         false", "idempotency_key  kycctl-", "(generated; to retry this request, pass --idempotency-key kycctl-"} {
					if !strings.Contains(start.stdout, want) {
						t.Errorf("start output lacks %q:\n%s", want, start.stdout)
					}
				}
			} else {
				var resp kycv1.StartResponse
				if err := protojson.Unmarshal([]byte(start.stdout), &resp); err != nil {
					t.Fatalf("start output is not a StartResponse: %v\n%v", err, start)
				}
				if resp.GetVerification().GetStatus() != kycv1.KycStatus_KYC_STATUS_PENDING || !strings.Contains(start.stdout, `"verification_id"`) {
					t.Fatalf("start: %v", start)
				}
				vid = resp.GetVerification().GetVerificationId()
				if !strings.Contains(start.stderr, "idempotency key kycctl-") {
					t.Errorf("the generated key is not shown: %v", start)
				}
			}

			watch := kycctl(t, devEnv(), append(out, "--addr", g.addr, "watch", "--verification-id", vid, "--until-terminal")...)
			if watch.code != exitOK {
				t.Fatalf("watch: %v", watch)
			}
			lines := strings.Split(strings.TrimSpace(watch.stdout), "\n")
			if len(lines) != 2 {
				t.Fatalf("watch printed %d lines, want the start event and the webhook's PASSED:\n%v", len(lines), watch)
			}
			if tc.output == "text" {
				for i, want := range [][]string{
					{"verification_id=" + vid, "provider=bond", "status=PENDING", "source=start", "provider_event=submitted", "attempt=1"},
					{"verification_id=" + vid, "status=PASSED", "previous=PENDING", "source=webhook", "provider_event=kyc.verification.success"},
				} {
					for _, w := range want {
						if !strings.Contains(lines[i], w) {
							t.Errorf("line %d = %q, want it to contain %q", i, lines[i], w)
						}
					}
				}
			} else {
				want := []kycv1.KycStatus{kycv1.KycStatus_KYC_STATUS_PENDING, kycv1.KycStatus_KYC_STATUS_PASSED}
				for i, l := range lines {
					var ev kycv1.Event
					if err := protojson.Unmarshal([]byte(l), &ev); err != nil {
						t.Fatalf("line %d is not an Event: %v\n%s", i, err, l)
					}
					if ev.GetVerificationId() != vid || ev.GetStatus() != want[i] || ev.GetEventId() == "" {
						t.Errorf("line %d = %v, want %v of %s", i, &ev, want[i], vid)
					}
				}
				if !strings.Contains(lines[1], `"provider_event":"kyc.verification.success"`) {
					t.Errorf("not proto field names: %s", lines[1])
				}
			}

			st := kycctl(t, devEnv(), append(out, "--addr", g.addr, "status", vid)...)
			if st.code != exitOK {
				t.Fatalf("status: %v", st)
			}
			if tc.output == "text" {
				for _, want := range []string{"verification_id  " + vid, "status           PASSED (provider: kyc.verification.success)", "passed_at", "customer_id " + tc.customer} {
					if !strings.Contains(st.stdout, want) {
						t.Errorf("status output lacks %q:\n%s", want, st.stdout)
					}
				}
			} else {
				var resp kycv1.GetStatusResponse
				if err := protojson.Unmarshal([]byte(st.stdout), &resp); err != nil || resp.GetVerification().GetStatus() != kycv1.KycStatus_KYC_STATUS_PASSED {
					t.Fatalf("status: %v (%v)", st, err)
				}
			}
			noSecrets(t, start, watch, st)
		})
	}
}

func TestStartIdempotencyAndConflicts(t *testing.T) {
	g := startGateway(t)
	const customer = "3e9a6b1c-2d4f-4e8a-b7c6-1a2b3c4d5e6f"
	first := kycctl(t, devEnv(), startArgs(g.addr, customer, passSSN, "--idempotency-key", "onboarding-7")...)
	again := kycctl(t, devEnv(), startArgs(g.addr, customer, passSSN, "--idempotency-key", "onboarding-7")...)
	if first.code != exitOK || again.code != exitOK {
		t.Fatalf("first: %v\nagain: %v", first, again)
	}
	if !strings.Contains(again.stdout, "replayed         true") || !strings.Contains(again.stdout, "idempotency_key  onboarding-7\n") ||
		vidRE.FindString(first.stdout) != vidRE.FindString(again.stdout) {
		t.Fatalf("a retry with the same key was not replayed:\nfirst: %v\nagain: %v", first, again)
	}

	other := kycctl(t, devEnv(), startArgs(g.addr, "4f0b7c2d-3e5a-4f9b-8c7d-2b3c4d5e6f70", passSSN, "--idempotency-key", "onboarding-7")...)
	if other.code != exitConflict || !strings.Contains(other.stderr, "ALREADY_EXISTS") || !strings.Contains(other.stderr, "reason: IDEMPOTENCY_KEY_REUSED") {
		t.Fatalf("same key, other request: %v", other)
	}

	vid := vidRE.FindStringSubmatch(first.stdout)[1]
	if w := kycctl(t, devEnv(), "--addr", g.addr, "watch", "--verification-id", vid, "--until-terminal"); w.code != exitOK {
		t.Fatalf("watch: %v", w)
	}
	passed := kycctl(t, devEnv(), startArgs(g.addr, customer, passSSN)...)
	if passed.code != exitConflict || !strings.Contains(passed.stderr, "FAILED_PRECONDITION") ||
		!strings.Contains(passed.stderr, "reason: KYC_ALREADY_PASSED") || !strings.Contains(passed.stderr, "passed_at: ") {
		t.Fatalf("start after PASSED: %v", passed)
	}
	noSecrets(t, first, again, other, passed)
}

func TestErrorsNameTheProblem(t *testing.T) {
	g := startGateway(t)
	const customer = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	for _, tc := range []struct {
		name   string
		env    func(string) string
		args   []string
		code   int
		stderr []string
	}{
		{"invalid SSN", devEnv(), startArgs(g.addr, customer, "12-345"), exitInvalid,
			[]string{"kycctl: start: INVALID_ARGUMENT", "reason: INVALID_FIELD", "field applicant.ssn: must be 9 digits"}},
		{"several invalid fields", devEnv(), []string{"--addr", g.addr, "start", "--provider", "bond", "--program-id", "not-a-uuid", "--customer-id", customer, "--email", "nope"}, exitInvalid,
			[]string{"field program_id: must be a UUID", "field applicant.email: must be a valid email address"}},
		{"unknown provider", devEnv(), []string{"--addr", g.addr, "start", "--provider", "acme", "--program-id", program, "--customer-id", customer}, exitInvalid,
			[]string{"reason: UNKNOWN_PROVIDER", "configured: "}},
		{"wrong API key", func(k string) string { return map[string]string{"MY_KEY": "not-a-key"}[k] },
			[]string{"--api-key-env", "MY_KEY", "--addr", g.addr, "status", "vrf_sux76nqm5jm4rf2dxeakxatdoqes5qaz"}, exitAuth,
			[]string{"UNAUTHENTICATED", "reason: UNAUTHENTICATED"}},
		{"unknown verification", devEnv(), []string{"--addr", g.addr, "status", "vrf_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, exitNotFound,
			[]string{"kycctl: status: NOT_FOUND", "reason: VERIFICATION_NOT_FOUND"}},
		{"malformed verification id", devEnv(), []string{"--addr", g.addr, "status", "vrf_nope"}, exitInvalid,
			[]string{"field verification_id: malformed"}},
		{"watch of an unknown verification", devEnv(), []string{"--addr", g.addr, "watch", "--verification-id", "vrf_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "--until-terminal"}, exitNotFound,
			[]string{"VERIFICATION_NOT_FOUND"}},
		{"no gateway there", devEnv(), []string{"--addr", "127.0.0.1:1", "watch"}, exitUnavailable,
			[]string{"UNAVAILABLE", "is the gateway running at 127.0.0.1:1?"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kycctl(t, tc.env, tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d\n%v", r.code, tc.code, r)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%v", want, r)
				}
			}
			if strings.Contains(r.stderr, "12-345") || strings.Contains(r.stderr, "not-a-key") {
				t.Errorf("an error echoes a refused value:\n%v", r)
			}
		})
	}

	t.Run("json", func(t *testing.T) {
		r := kycctl(t, devEnv(), append([]string{"--output", "json"}, startArgs(g.addr, customer, "12-345")...)...)
		if r.code != exitInvalid || r.stdout != "" {
			t.Fatalf("got %v", r)
		}
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		var got struct {
			Error struct {
				Code            string `json:"code"`
				Reason          string `json:"reason"`
				FieldViolations []struct {
					Field string `json:"field"`
				} `json:"field_violations"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
			t.Fatalf("the error is not one JSON object: %v\n%v", err, r)
		}
		if got.Error.Code != "INVALID_ARGUMENT" || got.Error.Reason != "INVALID_FIELD" ||
			len(got.Error.FieldViolations) != 1 || got.Error.FieldViolations[0].Field != "applicant.ssn" {
			t.Fatalf("got %+v", got)
		}
	})
}

// TestCloudPaymentsFlow is the mobile-SDK flow: the user's tokens come from the environment
// variables the flags name, the first Start answers with the SDK to run, the second hands
// over the SDK's result, and the gateway's polling passes the verification.
func TestCloudPaymentsFlow(t *testing.T) {
	g := startGateway(t)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	u, err := cpemu.SignUp(context.Background(), &http.Client{Transport: tr}, g.httpBase+"/sandbox/cloudpayments", "kycctl-user")
	if err != nil {
		t.Fatal(err)
	}
	env := devEnv("CP_ACCESS", u.AccessToken, "CP_REFRESH", u.RefreshToken)
	args := []string{"--addr", g.addr, "start", "--provider", "cloudpayments", "--program-id", program, "--user-id", u.UUID,
		"--access-token-env", "CP_ACCESS", "--refresh-token-env", "CP_REFRESH"}
	sdk := kycctl(t, env, append(args, "--device-id", "my-phone")...)
	if sdk.code != exitOK || !strings.Contains(sdk.stdout, "status           INCOMPLETE") ||
		!strings.Contains(sdk.stdout, "run the provider's mobile SDK (vendor JUMIO)") {
		t.Fatalf("first start: %v", sdk)
	}
	reviewed := kycctl(t, env, append(args, "--account-id", "acct-1", "--workflow-id", "wf-1")...)
	if reviewed.code != exitOK || !strings.Contains(reviewed.stdout, "status           UNDER_REVIEW") {
		t.Fatalf("start with the SDK result: %v", reviewed)
	}
	vid := vidRE.FindStringSubmatch(reviewed.stdout)[1]
	watch := kycctl(t, env, "--addr", g.addr, "watch", "--verification-id", vid, "--until-terminal")
	if watch.code != exitOK || !strings.Contains(watch.stdout, "status=PASSED") || !strings.Contains(watch.stdout, "source=poll") {
		t.Fatalf("watch: %v", watch)
	}
	for _, r := range []result{sdk, reviewed, watch} {
		if strings.Contains(r.stdout+r.stderr, u.RefreshToken) || strings.Contains(r.stdout+r.stderr, u.AccessToken) {
			t.Fatalf("a user token is in the output:\n%v", r)
		}
	}
}

// TestTerminalMatchesGateway keeps kycctl's list of terminal statuses the gateway's.
func TestTerminalMatchesGateway(t *testing.T) {
	for v := range kycv1.KycStatus_name {
		s := kycv1.KycStatus(v)
		if got, want := terminal(s), apiconv.FromStatus(s).Terminal(); got != want {
			t.Errorf("terminal(%v) = %t, want %t", s, got, want)
		}
	}
}
