package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"strings"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"google.golang.org/grpc/codes"
)

func startCommand() command {
	return command{
		name:    "start",
		summary: "start (or continue) a verification: KycService.Start",
		about: `Start submits an applicant to a provider, or continues an attempt that waits on input, and
prints the verification: its id (vrf_..., the same for every Start of one subject and program), its status and
the next action. The outcome usually arrives later, on the event stream: follow it with
'kycctl watch --verification-id ID --until-terminal'.

Required: --provider, --program-id and one subject (--customer-id; --business-id with
--beneficial-owner-id; or --user-id for CloudPayments). Which applicant fields a provider and
program need is the gateway's rule; every field given must be well formed, and an invalid one
is named in the error (exit 3).

Start is idempotent per idempotency key: a retry with the same key and the same flags is
answered from the stored outcome (replayed: true) and never submits twice. Without
--idempotency-key kycctl makes up a fresh key and prints it, so a Start that timed out or met
UNAVAILABLE (exit 7) can be retried safely with it.

Example (Bond sandbox; SSN 123-45-6789 passes):
  kycctl start --provider bond --program-id ` + sandboxProg + ` \
    --customer-id ` + helpCustomer + ` --ssn 123-45-6789 --email ada@example.com

CloudPayments (the mobile-SDK flow; the user's tokens are credentials, so they are read from
the environment variables named by --access-token-env and --refresh-token-env):
  export CP_ACCESS=... CP_REFRESH=...
  kycctl start --provider cloudpayments --program-id ` + sandboxProg + ` --user-id UUID \
    --access-token-env CP_ACCESS --refresh-token-env CP_REFRESH --device-id my-phone
  # then, with the SDK's result:
  kycctl start ... --account-id acct-1 --workflow-id wf-1`,
		flags: func(c *cli, fs *flag.FlagSet) func(context.Context, []string) int {
			var o startOptions
			fs.StringVar(&o.provider, "provider", "", "provider instance, e.g. bond, atelio, cloudpayments (required)")
			fs.StringVar(&o.program, "program-id", "", "provider program, a UUID (required; the sandbox accepts any)")
			fs.StringVar(&o.customer, "customer-id", "", "subject: a Bond/Atelio customer id (UUID)")
			fs.StringVar(&o.business, "business-id", "", "subject: a Bond/Atelio business id, with --beneficial-owner-id")
			fs.StringVar(&o.owner, "beneficial-owner-id", "", "subject: the business's beneficial owner id, with --business-id")
			fs.StringVar(&o.user, "user-id", "", "subject: a CloudPayments user's uuid")
			fs.StringVar(&o.ssn, "ssn", "", "applicant SSN, ######### or ###-##-####")
			fs.StringVar(&o.phone, "phone", "", "applicant phone: digits, or digits with dashes (555-111-2222)")
			fs.StringVar(&o.phoneCC, "phone-country-code", "", "applicant phone country code, 1 to 3 digits")
			fs.StringVar(&o.email, "email", "", "applicant email address")
			fs.StringVar(&o.ip, "ip", "", "applicant IPv4 address (some programs require it)")
			fs.BoolVar(&o.retry, "retry", false, "ask for a new attempt after a retryable outcome (ERROR, EXPIRED)")
			fs.StringVar(&o.key, "idempotency-key", "", "idempotency key, at most 255 printable ASCII characters (default: a fresh random key, printed)")
			fs.StringVar(&o.accessEnv, "access-token-env", "", "CloudPayments: `NAME` of the environment variable holding the user's OAuth access token")
			fs.StringVar(&o.refreshEnv, "refresh-token-env", "", "CloudPayments: `NAME` of the environment variable holding the user's refresh token")
			fs.StringVar(&o.device, "device-id", "", "CloudPayments: the mobile device's id")
			fs.StringVar(&o.account, "account-id", "", "CloudPayments: the SDK result's account id, with --workflow-id")
			fs.StringVar(&o.workflow, "workflow-id", "", "CloudPayments: the SDK result's workflow id, with --account-id")
			return func(ctx context.Context, args []string) int { return c.start(ctx, &o, args) }
		},
	}
}

type startOptions struct {
	provider, program                                string
	customer, business, owner, user                  string
	ssn, phone, phoneCC, email, ip                   string
	retry                                            bool
	key                                              string
	accessEnv, refreshEnv, device, account, workflow string
}

// request builds the StartRequest, or says which flags are missing or clash. Formats are left
// to the gateway, which names every invalid field.
func (c *cli) request(o *startOptions) (*kycv1.StartRequest, string) {
	var missing []string
	if o.provider == "" {
		missing = append(missing, "--provider")
	}
	if o.program == "" {
		missing = append(missing, "--program-id")
	}
	req := &kycv1.StartRequest{Provider: o.provider, ProgramId: o.program, Retry: o.retry, IdempotencyKey: o.key}

	forms := 0
	if o.customer != "" {
		forms++
		req.Subject = &kycv1.Subject{Kind: &kycv1.Subject_CustomerId{CustomerId: o.customer}}
	}
	if o.user != "" {
		forms++
		req.Subject = &kycv1.Subject{Kind: &kycv1.Subject_UserId{UserId: o.user}}
	}
	if o.business != "" || o.owner != "" {
		forms++
		if o.business == "" || o.owner == "" {
			return nil, "--business-id and --beneficial-owner-id go together"
		}
		req.Subject = &kycv1.Subject{Kind: &kycv1.Subject_BeneficialOwner{BeneficialOwner: &kycv1.BeneficialOwner{
			BusinessId: o.business, BeneficialOwnerId: o.owner,
		}}}
	}
	switch {
	case forms == 0:
		missing = append(missing, "a subject (--customer-id, --business-id with --beneficial-owner-id, or --user-id)")
	case forms > 1:
		return nil, "give one subject: --customer-id, --business-id with --beneficial-owner-id, or --user-id"
	}
	if len(missing) > 0 {
		return nil, "start needs " + strings.Join(missing, ", ")
	}

	if o.ssn+o.phone+o.phoneCC+o.email+o.ip != "" {
		req.Applicant = &kycv1.Applicant{Ssn: o.ssn, Phone: o.phone, PhoneCountryCode: o.phoneCC, Email: o.email, Ip: o.ip}
	}
	cp := &kycv1.CloudPaymentsInput{DeviceId: o.device, AccountId: o.account, WorkflowId: o.workflow}
	for _, t := range []struct {
		flag, name string
		dst        *string
	}{{"--access-token-env", o.accessEnv, &cp.AccessToken}, {"--refresh-token-env", o.refreshEnv, &cp.RefreshToken}} {
		if t.name == "" {
			continue
		}
		if *t.dst = c.getenv(t.name); *t.dst == "" {
			return nil, fmt.Sprintf("%s: the environment variable %s is empty or unset", t.flag, t.name)
		}
	}
	if o.accessEnv+o.refreshEnv+o.device+o.account+o.workflow != "" {
		req.ProviderInput = &kycv1.StartRequest_Cloudpayments{Cloudpayments: cp}
	}
	return req, ""
}

func (c *cli) start(ctx context.Context, o *startOptions, args []string) int {
	if len(args) > 0 {
		return c.usageError("start takes no arguments, only flags: " + strings.Join(args, " "))
	}
	req, problem := c.request(o)
	if problem != "" {
		return c.usageError(problem)
	}
	generated := req.IdempotencyKey == ""
	if generated {
		req.IdempotencyKey = newIdempotencyKey()
	}
	client, closeConn, code := c.connect()
	if code != exitOK {
		return code
	}
	defer closeConn()
	if generated && c.json() {
		// stdout is the response alone; the key goes where a person still sees it.
		c.errorf("idempotency key %s (generated): retry this request with --idempotency-key %s", req.IdempotencyKey, req.IdempotencyKey)
	}

	callCtx, cancel := context.WithTimeout(ctx, c.g.timeout)
	defer cancel()
	resp, err := client.Start(callCtx, req)
	if err != nil {
		code := c.report("start", err)
		switch parseError(err).code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Unknown, codes.Canceled:
			c.errorf("the outcome is unknown or not yet stored: retry with --idempotency-key %s and the same flags; the gateway never submits one key twice", req.IdempotencyKey)
		}
		return code
	}
	if c.json() {
		if err := writeJSON(c.stdout, resp); err != nil {
			c.errorf("%v", err)
			return exitFailure
		}
		return exitOK
	}
	v := resp.GetVerification()
	writeVerification(c.stdout, v)
	fmt.Fprintf(c.stdout, "%-16s %t\n", "replayed", resp.GetReplayed())
	keyNote := req.IdempotencyKey
	if generated {
		keyNote += " (generated; to retry this request, pass --idempotency-key " + req.IdempotencyKey + ")"
	}
	fmt.Fprintf(c.stdout, "%-16s %s\n", "idempotency_key", keyNote)
	if !terminal(v.GetStatus()) {
		fmt.Fprintf(c.stderr, "\nFollow it: kycctl watch --verification-id %s --until-terminal\n", v.GetVerificationId())
	}
	return exitOK
}

// newIdempotencyKey is a fresh random key: 128 bits, so two invocations never share one.
func newIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (it panics on an unusable source)
	return "kycctl-" + hex.EncodeToString(b)
}
