package store

import (
	"time"

	"github.com/kycgw/kycgw/providers"
)

// ClockSkew is how far a provider's clock may run behind ours before an event dated before the
// current attempt started is taken to belong to an earlier attempt.
const ClockSkew = 30 * time.Second

// Transition computes the effect of u on cur (nil when the verification does not exist yet).
// It is a pure function so every Store applies exactly the same rules; stores only make it
// atomic. It returns the new state and the event to append, or ok=false when nothing changes
// (stale reports that the rules refused the update).
//
// The rules:
//   - NewAttempt opens attempt n+1 in the result's status, unless the verification PASSED.
//   - Otherwise an event dated (with ClockSkew) before the current attempt started belongs to an
//     earlier attempt and is ignored.
//   - Within an attempt, providers.Advance decides: forward only, terminal statuses stay.
func Transition(cur *Verification, u Update) (next Verification, ev *Event, ok, stale bool) {
	occurred := u.Result.OccurredAt
	if occurred.IsZero() {
		occurred = u.ReceivedAt
	}
	var prev providers.Status = providers.StatusNotStarted
	if cur == nil {
		next = Verification{
			ID:        u.VerificationID,
			Tenant:    u.Tenant,
			Provider:  u.Provider,
			ProgramID: u.ProgramID,
			Subject:   u.Subject,
			Status:    providers.StatusNotStarted,
			CreatedAt: u.ReceivedAt,
		}
	} else {
		next = *cur
		prev = cur.Status
	}

	if !u.Result.Status.Valid() {
		return next, nil, false, true
	}
	switch {
	case u.NewAttempt && prev != providers.StatusPassed:
		next.Attempt++
		next.AttemptStartedAt = u.ReceivedAt
	case cur != nil && !cur.AttemptStartedAt.IsZero() &&
		occurred.Before(cur.AttemptStartedAt.Add(-ClockSkew)):
		return next, nil, false, true
	case !providers.Advance(prev, u.Result.Status, occurred.After(next.StatusAt)):
		return next, nil, false, true
	}
	if next.Attempt == 0 {
		// A verification first seen through a status read or a refusal (already passed at the
		// provider) still belongs to an attempt.
		next.Attempt = 1
		next.AttemptStartedAt = u.ReceivedAt
	}

	r := u.Result
	next.Status = r.Status
	next.ProviderStatus = r.ProviderStatus
	next.StatusAt = occurred
	next.UpdatedAt = u.ReceivedAt
	next.NextAction = r.NextAction
	next.Checks = r.Checks
	next.Reason = r.Reason
	next.PassedAt = time.Time{}
	if r.Status == providers.StatusPassed {
		next.PassedAt = r.PassedAt
		if next.PassedAt.IsZero() {
			next.PassedAt = occurred
		}
	}
	ev = &Event{
		Tenant:         next.Tenant,
		VerificationID: next.ID,
		Provider:       next.Provider,
		ProgramID:      next.ProgramID,
		Subject:        next.Subject,
		Status:         next.Status,
		PreviousStatus: prev,
		ProviderEvent:  u.ProviderEvent,
		Source:         u.Source,
		Attempt:        next.Attempt,
		OccurredAt:     occurred,
		ReceivedAt:     u.ReceivedAt,
		NextAction:     r.NextAction,
		Checks:         r.Checks,
		Reason:         r.Reason,
	}
	if ev.ProviderEvent == "" {
		ev.ProviderEvent = r.ProviderStatus
	}
	return next, ev, true, false
}
