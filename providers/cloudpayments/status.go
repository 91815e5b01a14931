package cloudpayments

import (
	"github.com/kycgw/kycgw/providers"
)

// The getUserInfo statuses: the six of the kyc-ms document (published document 004) and ACCEPTED, which the
// SDK's enum adds.
const (
	statusNotRegistered    = "NOT_REGISTERED"
	statusLV1              = "LV1"
	statusPending          = "PENDING"
	statusRejected         = "REJECTED"
	statusApprovedVerified = "APPROVED_VERIFIED"
	statusAccepted         = "ACCEPTED"
	statusNeedResubmit     = "NEED_RESUBMIT"
)

// maxStatusInError bounds the unknown value an error repeats, so a provider that answers a
// page of text as a status cannot flood logs.
const maxStatusInError = 64

// mapStatus is the one place a CloudPayments status becomes a normalized one. A value it does
// not name is an *providers.UnknownStatusError, never a guess.
func mapStatus(provider, v string) (providers.Status, error) {
	switch v {
	case statusNotRegistered:
		return providers.StatusNotStarted, nil
	case statusLV1:
		return providers.StatusIncomplete, nil
	case statusPending:
		return providers.StatusUnderReview, nil
	case statusRejected:
		return providers.StatusFailed, nil
	case statusApprovedVerified, statusAccepted:
		return providers.StatusPassed, nil
	case statusNeedResubmit:
		return providers.StatusResubmitRequired, nil
	}
	if len(v) > maxStatusInError {
		v = v[:maxStatusInError] + "..."
	}
	return providers.StatusUnspecified, &providers.UnknownStatusError{Provider: provider, Value: v}
}

// statusResult is the Result a getUserInfo answer stands for when nothing else is known.
func statusResult(provider string, info userInfo) (providers.Result, error) {
	st, err := mapStatus(provider, info.Status)
	if err != nil {
		return providers.Result{}, err
	}
	res := providers.Result{Status: st, ProviderStatus: info.Status}
	if st == providers.StatusResubmitRequired {
		res.NextAction = providers.NextAction{Kind: providers.ActionResubmit, AttemptsLeft: info.attemptsLeft()}
	}
	return res, nil
}
