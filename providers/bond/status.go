package bond

import (
	"strings"

	"github.com/kycgw/kycgw/providers"
)

// The two vocabularies below are the whole mapping from Bond/Atelio to the normalized status
// (ARCHITECTURE.md, status table). Each is one switch; a value no case names is an
// *providers.UnknownStatusError, never a guess.

// mapKYCStatus maps a kyc_status from POST or GET .../verification-kyc. The docs spell the
// two-word values with spaces ("document required", "under review"); underscores are accepted
// too because the matching webhook events use them.
func mapKYCStatus(provider, raw string) (providers.Status, error) {
	switch strings.ReplaceAll(raw, " ", "_") {
	case "submitted", "initialized": // POST answers: customers say submitted, BOs initialized
		return providers.StatusPending, nil
	case "document_required":
		return providers.StatusDocumentsRequired, nil
	case "under_review":
		return providers.StatusUnderReview, nil
	case "passed":
		return providers.StatusPassed, nil
	case "failed":
		return providers.StatusFailed, nil
	case "error":
		return providers.StatusError, nil
	case "expired":
		return providers.StatusExpired, nil
	case "reenter_information":
		// Not in Bond's GET table, which has no state for the reenter_information event; the
		// emulator reports it so a GET after that event is not a lie. Mapped because its
		// meaning is unambiguous.
		return providers.StatusReenterInformation, nil
	}
	return providers.StatusUnspecified, &providers.UnknownStatusError{Provider: provider, Value: raw}
}

// mapEvent maps a kyc.* webhook event name.
func mapEvent(provider, event string) (providers.Status, error) {
	switch event {
	case "kyc.verification.success":
		return providers.StatusPassed, nil
	case "kyc.verification.failure":
		return providers.StatusFailed, nil
	case "kyc.verification.error":
		return providers.StatusError, nil
	case "kyc.verification.timeout":
		return providers.StatusExpired, nil
	case "kyc.verification.document_required",
		"kyc.verification.documents_required": // the beneficial-owner page's spelling
		return providers.StatusDocumentsRequired, nil
	case "kyc.verification.under_review":
		return providers.StatusUnderReview, nil
	case "kyc.verification.reenter_information":
		return providers.StatusReenterInformation, nil
	}
	return providers.StatusUnspecified, &providers.UnknownStatusError{Provider: provider, Value: event}
}

// isKYCEvent reports whether an event belongs to the kyc.* family this adapter handles. Other
// families (card.*, kyb.*, credit.*, customer.updated) share the subscription endpoint and are
// acknowledged and ignored.
func isKYCEvent(event string) bool { return strings.HasPrefix(event, "kyc.") }

// nextActionFor is what the applicant must do in status s when the provider gave no detail
// (the GET response carries no document list or field names).
func nextActionFor(s providers.Status) providers.NextAction {
	switch s {
	case providers.StatusError, providers.StatusExpired:
		return providers.NextAction{Kind: providers.ActionRetry}
	case providers.StatusDocumentsRequired:
		return providers.NextAction{Kind: providers.ActionUploadDocuments}
	case providers.StatusReenterInformation:
		return providers.NextAction{Kind: providers.ActionReenterInformation}
	}
	return providers.NextAction{}
}
