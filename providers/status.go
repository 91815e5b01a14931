package providers

import "fmt"

// Status is the normalized KYC status every provider value maps to. Its numbering matches
// kyc.v1.KycStatus so the server converts with a checked cast, but this package never imports
// generated code: adapters stay independent of the wire contract.
type Status int

// The normalized statuses. See ARCHITECTURE.md's status table for the provider values behind
// each one.
const (
	StatusUnspecified        Status = iota
	StatusNotStarted                // no KYC at the provider yet
	StatusPending                   // submitted, nothing decided
	StatusIncomplete                // started by the applicant, steps missing
	StatusDocumentsRequired         // the applicant must upload documents
	StatusReenterInformation        // the applicant must correct named fields and resubmit
	StatusResubmitRequired          // a review asked for resubmission; ends the attempt (attempts may be limited)
	StatusUnderReview               // a human or vendor is reviewing
	StatusPassed                    // verified; final
	StatusFailed                    // rejected; final for the attempt
	StatusError                     // the provider failed; retryable with a new attempt
	StatusExpired                   // the attempt timed out; retryable with a new attempt
)

var statusNames = [...]string{
	StatusUnspecified:        "UNSPECIFIED",
	StatusNotStarted:         "NOT_STARTED",
	StatusPending:            "PENDING",
	StatusIncomplete:         "INCOMPLETE",
	StatusDocumentsRequired:  "DOCUMENTS_REQUIRED",
	StatusReenterInformation: "REENTER_INFORMATION",
	StatusResubmitRequired:   "RESUBMIT_REQUIRED",
	StatusUnderReview:        "UNDER_REVIEW",
	StatusPassed:             "PASSED",
	StatusFailed:             "FAILED",
	StatusError:              "ERROR",
	StatusExpired:            "EXPIRED",
}

func (s Status) String() string {
	if s >= 0 && int(s) < len(statusNames) {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Valid reports whether s is one of the named statuses other than StatusUnspecified.
func (s Status) Valid() bool { return s > StatusUnspecified && s <= StatusExpired }

// Terminal reports whether an attempt in status s can change only through a new attempt
// (PASSED can never change). RESUBMIT_REQUIRED is a review's decision: the applicant goes
// through the provider's flow again, which is a new attempt.
func (s Status) Terminal() bool {
	switch s {
	case StatusPassed, StatusFailed, StatusError, StatusExpired, StatusResubmitRequired:
		return true
	}
	return false
}

// rank orders statuses within one attempt. A transition may only go to a higher rank; statuses
// of equal rank replace each other only when the newer event really is newer (see Advance).
func (s Status) rank() int {
	switch s {
	case StatusNotStarted:
		return 0
	case StatusPending:
		return 1
	case StatusIncomplete:
		return 2
	case StatusDocumentsRequired, StatusReenterInformation:
		return 3
	case StatusUnderReview:
		return 4
	case StatusPassed, StatusFailed, StatusError, StatusExpired, StatusResubmitRequired:
		return 5
	}
	return -1
}

// Advance reports whether, within one attempt, a verification in status cur may move to next.
// newer says the incoming event occurred strictly after the one that set cur. The rules:
//   - nothing leaves a terminal status (a late or duplicate webhook never regresses PASSED,
//     FAILED, ERROR or EXPIRED; only a new attempt, opened by Start, leaves ERROR, EXPIRED or
//     FAILED, and nothing leaves PASSED);
//   - otherwise a higher rank always wins;
//   - statuses of equal rank (the "applicant must act" group) replace each other only when the
//     event is newer, so reordered deliveries settle on the latest instruction;
//   - the same status again is not a transition.
func Advance(cur, next Status, newer bool) bool {
	if !next.Valid() || cur == next || cur.Terminal() {
		return false
	}
	rc, rn := cur.rank(), next.rank()
	switch {
	case rn > rc:
		return true
	case rn == rc:
		return newer
	}
	return false
}
