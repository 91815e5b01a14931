package providers

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors adapters return (wrapped) so the server can map them without knowing any
// provider's wire format.
var (
	// ErrUnavailable: the provider could not be reached or answered 5xx, 429 or a timeout. The
	// call may be retried later.
	ErrUnavailable = errors.New("provider unavailable")
	// ErrAlreadyPassed: the subject already passed KYC; no further attempt is allowed. Returned
	// as *AlreadyPassedError.
	ErrAlreadyPassed = errors.New("kyc already passed")
	// ErrSubjectNotFound: the provider does not know the subject (customer, business, user).
	ErrSubjectNotFound = errors.New("subject not found at provider")
	// ErrUnknownStatus: the provider sent a status or event no table row names. It is never
	// guessed.
	ErrUnknownStatus = errors.New("unknown provider status")
	// ErrBadSignature: a webhook's signature is missing, malformed, stale or wrong.
	ErrBadSignature = errors.New("webhook signature invalid")
	// ErrMalformed: a provider response or webhook body could not be parsed.
	ErrMalformed = errors.New("malformed provider payload")
	// ErrRejected: the provider refused our request for a reason that is not the caller's
	// input (credentials, a bug in the adapter). The server reports it as internal.
	ErrRejected = errors.New("provider rejected request")
)

// AlreadyPassedError reports that the subject passed KYC at PassedAt (zero when the provider
// did not say).
type AlreadyPassedError struct {
	PassedAt time.Time
}

func (e *AlreadyPassedError) Error() string {
	if e.PassedAt.IsZero() {
		return "kyc already passed"
	}
	return "kyc already passed at " + e.PassedAt.UTC().Format(time.RFC3339Nano)
}

// Is makes errors.Is(err, ErrAlreadyPassed) true.
func (e *AlreadyPassedError) Is(target error) bool { return target == ErrAlreadyPassed }

// FieldError reports a problem with one field of the caller's request, named as in the
// gateway's API (for example "applicant.ssn" or "subject.customer_id").
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// UnknownStatusError carries the unmapped value. It is not PII: provider statuses and event
// names are enumerations.
type UnknownStatusError struct {
	Provider string
	Value    string
}

func (e *UnknownStatusError) Error() string {
	return fmt.Sprintf("%s: unknown provider status %q", e.Provider, e.Value)
}

// Is makes errors.Is(err, ErrUnknownStatus) true.
func (e *UnknownStatusError) Is(target error) bool { return target == ErrUnknownStatus }

// UnknownProviderError reports a provider name that is not configured.
type UnknownProviderError struct {
	Name  string
	Known []string
}

func (e *UnknownProviderError) Error() string {
	return fmt.Sprintf("unknown provider %q (configured: %s)", e.Name, strings.Join(e.Known, ", "))
}
