// Package providers defines what kycgw needs from a KYC provider: the Provider interface, its
// optional capabilities, the domain types adapters exchange with the service, the normalized
// status vocabulary and an explicit registry of configured instances.
//
// It must not import generated protobuf code, the server, or any adapter: adapters depend on
// it, never the other way round.
package providers

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Provider is one configured provider instance (for example "bond" or "atelio").
type Provider interface {
	// Name is the configured instance name clients put in StartRequest.provider.
	Name() string
	// Start submits the applicant, or continues an attempt that waits on input. When the
	// provider reports that a KYC is already in progress, the adapter reconciles with a status
	// read and returns that instead of submitting twice.
	Start(ctx context.Context, in StartInput) (Result, error)
	// Status reads the provider's current view of one verification.
	Status(ctx context.Context, in StatusInput) (Result, error)
}

// Validator is implemented by providers with requirements beyond the gateway's syntactic
// checks (subject kinds they accept, fields a program requires). Errors are *FieldError.
type Validator interface {
	ValidateStart(in StartInput) error
}

// WebhookReceiver is implemented by providers that push results. ParseWebhook verifies the
// signature over the raw body before it parses anything; an unverifiable request returns an
// error wrapping ErrBadSignature.
type WebhookReceiver interface {
	ParseWebhook(h http.Header, body []byte, now time.Time) ([]Notification, error)
}

// Poller is implemented by providers without webhooks. The gateway polls Status for their
// non-final verifications, starting PollInterval after a Start and backing off while nothing
// changes, and turns each change into an event exactly as a webhook would.
type Poller interface {
	PollInterval() time.Duration
}

// WebhookSubscriber is implemented by providers whose webhook subscriptions can be created
// through their API (the sandbox does this at startup). It returns the subscription's signing
// secret and starts verifying with it.
type WebhookSubscriber interface {
	SubscribeWebhook(ctx context.Context, url string) error
}

// SubjectKind says which kind of party a verification is about.
type SubjectKind int

// Subject kinds.
const (
	SubjectUnknown         SubjectKind = iota
	SubjectCustomer                    // a Bond/Atelio customer_id
	SubjectBeneficialOwner             // a Bond/Atelio business_id + beneficial_owner_id
	SubjectUser                        // a CloudPayments user uuid
)

// Subject identifies the party being verified. Exactly one form is set.
type Subject struct {
	CustomerID        string
	BusinessID        string
	BeneficialOwnerID string
	UserID            string
}

// Kind reports which form of s is set.
func (s Subject) Kind() SubjectKind {
	switch {
	case s.CustomerID != "":
		return SubjectCustomer
	case s.BusinessID != "" || s.BeneficialOwnerID != "":
		return SubjectBeneficialOwner
	case s.UserID != "":
		return SubjectUser
	}
	return SubjectUnknown
}

// Key is a stable, unambiguous string for s, used to index verifications by subject; a webhook's
// subject must produce the same key as the Start's.
func (s Subject) Key() string {
	switch s.Kind() {
	case SubjectCustomer:
		return "customer:" + s.CustomerID
	case SubjectBeneficialOwner:
		// Only the owner's id: Bond/Atelio webhooks about a beneficial owner do not name the
		// business, and owner ids are UUIDs, unique on their own.
		return "beneficial_owner:" + s.BeneficialOwnerID
	case SubjectUser:
		return "user:" + s.UserID
	}
	return ""
}

// Applicant is the personal data a provider verifies. It is PII: it is never logged, stored or
// put in an error. Its String and LogValue forms are redacted so a stray %v or slog attribute
// cannot leak it.
type Applicant struct {
	SSN              string
	Phone            string
	PhoneCountryCode string
	Email            string
	IP               string
}

const redacted = "[REDACTED]"

// String returns a redacted form.
func (Applicant) String() string { return "Applicant" + redacted }

// GoString returns a redacted form, so %#v is safe too.
func (Applicant) GoString() string { return "Applicant" + redacted }

// LogValue implements slog.LogValuer.
func (Applicant) LogValue() slog.Value { return slog.StringValue(redacted) }

// StartInput is what Start sends to a provider.
type StartInput struct {
	ProgramID string
	Subject   Subject
	Applicant Applicant
	// Retry asks the provider for a new attempt after a retryable outcome (Bond's
	// kyc_retry_request).
	Retry bool
	// IdempotencyKey is forwarded to the provider. The gateway derives it from the client's key
	// so a retried Start can never submit twice.
	IdempotencyKey string
	// CloudPayments is the CloudPayments-specific input; nil for other providers.
	CloudPayments *CloudPaymentsInput
}

// CloudPaymentsInput is what a CloudPayments kyc-ms Start needs beyond the subject: the user's
// session, and, once the mobile SDK has run, its result.
type CloudPaymentsInput struct {
	Session  Session
	DeviceID string
	// AccountID and WorkflowID are the SDK's result; both empty before the SDK has run.
	AccountID  string
	WorkflowID string
}

// Session is a user's OAuth session at a provider. The tokens are credentials: never logged,
// never stored unencrypted. String and LogValue are redacted.
type Session struct {
	AccessToken  string
	RefreshToken string
	// ExpiresAt is when the access token expires; zero when unknown.
	ExpiresAt time.Time
}

// String returns a redacted form.
func (Session) String() string { return "Session" + redacted }

// GoString returns a redacted form.
func (Session) GoString() string { return "Session" + redacted }

// LogValue implements slog.LogValuer.
func (Session) LogValue() slog.Value { return slog.StringValue(redacted) }

// StatusInput names one verification at a provider.
type StatusInput struct {
	ProgramID string
	Subject   Subject
	// Session is the user's session for providers that read status on the user's behalf
	// (CloudPayments); nil otherwise.
	Session *Session
}

// Result is a provider's view of a verification, already normalized.
type Result struct {
	Status Status
	// ProviderStatus is the provider's raw value (for audit), e.g. "submitted" or
	// "kyc.verification.success".
	ProviderStatus string
	// Submitted is true when Start made the provider open a new attempt (as opposed to
	// reporting one already in progress).
	Submitted bool
	// OccurredAt is when the provider says the status was reached; zero when unknown.
	OccurredAt time.Time
	// PassedAt is when the verification passed, when the provider says so.
	PassedAt time.Time
	// NextAction is what the applicant or integrator must do next, if anything.
	NextAction NextAction
	// Checks are per-check results (ofac, bureau, email, ...), sorted by name.
	Checks []Check
	// Reason explains a failure or an instruction.
	Reason Reason
	// Session, when set, replaces the session the gateway keeps for polling (the adapter
	// refreshed an expired access token).
	Session *Session
}

// ActionKind says what a NextAction asks for.
type ActionKind int

// Next action kinds.
const (
	ActionNone               ActionKind = iota
	ActionUploadDocuments               // upload the listed documents
	ActionReenterInformation            // correct the named fields, then Start again
	ActionRunSDK                        // run the provider's mobile SDK with a token
	ActionResubmit                      // resubmit; AttemptsLeft may limit it
	ActionRetry                         // Start again with retry=true
)

// NextAction is what must happen before the verification can progress.
type NextAction struct {
	Kind      ActionKind
	Documents []Document
	Fields    []string
	SDK       SDKSession
	// AttemptsLeft is how many resubmissions remain, with ActionResubmit; -1 when unknown.
	AttemptsLeft int
}

// Document is one document the applicant must provide.
type Document struct {
	Type       string // government_id, proof_of_address, social_security_card, persona, ...
	Status     string // required, submitted
	UploadLink string
}

// SDKSession is what a mobile SDK needs to run a provider-side verification. Token is a
// credential: the gateway returns it to the Start caller and never stores or streams it.
type SDKSession struct {
	Token  string
	Vendor string // the provider's KYC vendor, e.g. JUMIO
}

// String returns a redacted form.
func (s SDKSession) String() string {
	return "SDKSession{Vendor:" + s.Vendor + " Token:" + redacted + "}"
}

// LogValue implements slog.LogValuer.
func (s SDKSession) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Check is the result of one check a provider ran.
type Check struct {
	Name   string
	Result string
}

// Reason explains an outcome: a machine code (may be empty) and a description.
type Reason struct {
	Code        string
	Description string
}

// Notification is one verified, parsed webhook event.
type Notification struct {
	// Subject the event concerns. ProgramID is set only when the provider says it.
	Subject   Subject
	ProgramID string
	// Event is the provider's event name, e.g. "kyc.verification.success".
	Event  string
	Result Result
	// DedupeKey identifies the delivery across the provider's retries.
	DedupeKey string
}
