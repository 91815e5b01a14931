// Package apiconv converts between the domain types of providers and store and the generated
// kyc.v1 messages. It is the only place that knows both shapes, so the server, the event hub and
// the tests convert the same way.
package apiconv

import (
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Status converts a domain status. The two enumerations share their numbering by design.
func Status(s providers.Status) kycv1.KycStatus {
	if !s.Valid() {
		return kycv1.KycStatus_KYC_STATUS_UNSPECIFIED
	}
	return kycv1.KycStatus(s)
}

// FromStatus converts an API status to the domain one.
func FromStatus(s kycv1.KycStatus) providers.Status {
	d := providers.Status(s)
	if !d.Valid() {
		return providers.StatusUnspecified
	}
	return d
}

// Subject converts a domain subject.
func Subject(s providers.Subject) *kycv1.Subject {
	switch s.Kind() {
	case providers.SubjectCustomer:
		return &kycv1.Subject{Kind: &kycv1.Subject_CustomerId{CustomerId: s.CustomerID}}
	case providers.SubjectBeneficialOwner:
		return &kycv1.Subject{Kind: &kycv1.Subject_BeneficialOwner{BeneficialOwner: &kycv1.BeneficialOwner{
			BusinessId: s.BusinessID, BeneficialOwnerId: s.BeneficialOwnerID,
		}}}
	case providers.SubjectUser:
		return &kycv1.Subject{Kind: &kycv1.Subject_UserId{UserId: s.UserID}}
	}
	return nil
}

// FromSubject converts an API subject.
func FromSubject(s *kycv1.Subject) providers.Subject {
	switch k := s.GetKind().(type) {
	case *kycv1.Subject_CustomerId:
		return providers.Subject{CustomerID: k.CustomerId}
	case *kycv1.Subject_BeneficialOwner:
		return providers.Subject{
			BusinessID:        k.BeneficialOwner.GetBusinessId(),
			BeneficialOwnerID: k.BeneficialOwner.GetBeneficialOwnerId(),
		}
	case *kycv1.Subject_UserId:
		return providers.Subject{UserID: k.UserId}
	}
	return providers.Subject{}
}

// NextAction converts a next action; nil when there is nothing to do.
func NextAction(a providers.NextAction) *kycv1.NextAction {
	switch a.Kind {
	case providers.ActionUploadDocuments:
		docs := make([]*kycv1.Document, len(a.Documents))
		for i, d := range a.Documents {
			docs[i] = &kycv1.Document{DocumentType: d.Type, Status: d.Status, UploadLink: d.UploadLink}
		}
		return &kycv1.NextAction{Action: &kycv1.NextAction_UploadDocuments{
			UploadDocuments: &kycv1.UploadDocuments{Documents: docs},
		}}
	case providers.ActionReenterInformation:
		return &kycv1.NextAction{Action: &kycv1.NextAction_ReenterInformation{
			ReenterInformation: &kycv1.ReenterInformation{Fields: append([]string(nil), a.Fields...)},
		}}
	case providers.ActionRetry:
		return &kycv1.NextAction{Action: &kycv1.NextAction_Retry{Retry: &kycv1.Retry{}}}
	case providers.ActionRunSDK:
		return &kycv1.NextAction{Action: &kycv1.NextAction_RunProviderSdk{
			RunProviderSdk: &kycv1.RunProviderSdk{Token: a.SDK.Token, Vendor: a.SDK.Vendor},
		}}
	case providers.ActionResubmit:
		return &kycv1.NextAction{Action: &kycv1.NextAction_Resubmit{
			Resubmit: &kycv1.Resubmit{AttemptsLeft: int32(a.AttemptsLeft)},
		}}
	}
	return nil
}

// Checks converts check results.
func Checks(cs []providers.Check) []*kycv1.CheckResult {
	if len(cs) == 0 {
		return nil
	}
	out := make([]*kycv1.CheckResult, len(cs))
	for i, c := range cs {
		out[i] = &kycv1.CheckResult{Name: c.Name, Result: c.Result}
	}
	return out
}

// Reason converts a reason; nil when empty.
func Reason(r providers.Reason) *kycv1.Reason {
	if r == (providers.Reason{}) {
		return nil
	}
	return &kycv1.Reason{Code: r.Code, Description: r.Description}
}

// Time converts a time; nil when zero.
func Time(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// Verification converts a stored verification.
func Verification(v store.Verification) *kycv1.Verification {
	return &kycv1.Verification{
		VerificationId: v.ID,
		Provider:       v.Provider,
		ProgramId:      v.ProgramID,
		Subject:        Subject(v.Subject),
		Status:         Status(v.Status),
		ProviderStatus: v.ProviderStatus,
		UpdatedAt:      Time(v.UpdatedAt),
		PassedAt:       Time(v.PassedAt),
		NextAction:     NextAction(v.NextAction),
		Checks:         Checks(v.Checks),
		Reason:         Reason(v.Reason),
		Attempt:        int32(v.Attempt),
		CreatedAt:      Time(v.CreatedAt),
	}
}

// Event converts a stored event.
func Event(e store.Event) *kycv1.Event {
	return &kycv1.Event{
		EventId:        e.ID,
		VerificationId: e.VerificationID,
		Provider:       e.Provider,
		ProgramId:      e.ProgramID,
		Subject:        Subject(e.Subject),
		Status:         Status(e.Status),
		PreviousStatus: Status(e.PreviousStatus),
		ProviderEvent:  e.ProviderEvent,
		Source:         kycv1.EventSource(e.Source),
		OccurredAt:     Time(e.OccurredAt),
		ReceivedAt:     Time(e.ReceivedAt),
		NextAction:     NextAction(e.NextAction),
		Checks:         Checks(e.Checks),
		Reason:         Reason(e.Reason),
		Attempt:        int32(e.Attempt),
	}
}
