package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// jsonOut is the JSON form: field names as the proto spells them, the same as the REST API.
var jsonOut = protojson.MarshalOptions{UseProtoNames: true}

// writeJSON writes m as one line.
func writeJSON(w io.Writer, m proto.Message) error {
	b, err := jsonOut.Marshal(m)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// statusName drops the enum prefix: PASSED rather than KYC_STATUS_PASSED.
func statusName(s kycv1.KycStatus) string {
	return strings.TrimPrefix(s.String(), "KYC_STATUS_")
}

// parseStatus accepts PASSED, passed or KYC_STATUS_PASSED.
func parseStatus(s string) (kycv1.KycStatus, bool) {
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "KYC_STATUS_") {
		name = "KYC_STATUS_" + name
	}
	v, ok := kycv1.KycStatus_value[name]
	if !ok || v == 0 {
		return 0, false
	}
	return kycv1.KycStatus(v), true
}

// terminal reports whether only a new Start can move a verification out of s (PASSED: nothing
// can). The gateway's state machine has the same list.
func terminal(s kycv1.KycStatus) bool {
	switch s {
	case kycv1.KycStatus_KYC_STATUS_PASSED, kycv1.KycStatus_KYC_STATUS_FAILED,
		kycv1.KycStatus_KYC_STATUS_ERROR, kycv1.KycStatus_KYC_STATUS_EXPIRED,
		kycv1.KycStatus_KYC_STATUS_RESUBMIT_REQUIRED:
		return true
	}
	return false
}

func timeText(ts *timestamppb.Timestamp) string {
	return ts.AsTime().UTC().Format(time.RFC3339Nano)
}

func subjectText(s *kycv1.Subject) string {
	switch k := s.GetKind().(type) {
	case *kycv1.Subject_CustomerId:
		return "customer_id " + k.CustomerId
	case *kycv1.Subject_UserId:
		return "user_id " + k.UserId
	case *kycv1.Subject_BeneficialOwner:
		return "business_id " + k.BeneficialOwner.GetBusinessId() + " beneficial_owner_id " + k.BeneficialOwner.GetBeneficialOwnerId()
	}
	return "(none)"
}

// nextActionLines says, for a person, what must happen next; it is empty when nothing must.
func nextActionLines(a *kycv1.NextAction) []string {
	switch k := a.GetAction().(type) {
	case *kycv1.NextAction_UploadDocuments:
		out := []string{"the applicant uploads these documents at their links:"}
		for _, d := range k.UploadDocuments.GetDocuments() {
			out = append(out, fmt.Sprintf("  %s (%s) %s", d.GetDocumentType(), d.GetStatus(), d.GetUploadLink()))
		}
		return out
	case *kycv1.NextAction_ReenterInformation:
		return []string{"correct " + strings.Join(k.ReenterInformation.GetFields(), ", ") + ", then start again"}
	case *kycv1.NextAction_Retry:
		return []string{"start again with --retry for a new attempt"}
	case *kycv1.NextAction_RunProviderSdk:
		return []string{
			"run the provider's mobile SDK (vendor " + k.RunProviderSdk.GetVendor() + ") with this token, then start again with the SDK's --account-id and --workflow-id:",
			"  " + k.RunProviderSdk.GetToken(),
		}
	case *kycv1.NextAction_Resubmit:
		left := "attempts left not given"
		if n := k.Resubmit.GetAttemptsLeft(); n >= 0 {
			left = strconv.Itoa(int(n)) + " attempts left"
		}
		return []string{"the applicant resubmits through the provider's SDK (" + left + "), then start again"}
	}
	return nil
}

// nextActionShort is the one-word form for event lines. Upload links and SDK tokens stay out
// of it: events never carry tokens, and links are in status and --output json.
func nextActionShort(a *kycv1.NextAction) string {
	switch k := a.GetAction().(type) {
	case *kycv1.NextAction_UploadDocuments:
		var types []string
		for _, d := range k.UploadDocuments.GetDocuments() {
			types = append(types, d.GetDocumentType())
		}
		return "upload_documents:" + strings.Join(types, ",")
	case *kycv1.NextAction_ReenterInformation:
		return "reenter_information:" + strings.Join(k.ReenterInformation.GetFields(), ",")
	case *kycv1.NextAction_Retry:
		return "retry"
	case *kycv1.NextAction_RunProviderSdk:
		return "run_provider_sdk:" + k.RunProviderSdk.GetVendor()
	case *kycv1.NextAction_Resubmit:
		return "resubmit:" + strconv.Itoa(int(k.Resubmit.GetAttemptsLeft()))
	}
	return ""
}

func checksText(cs []*kycv1.CheckResult) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.GetName() + ":" + c.GetResult()
	}
	return strings.Join(parts, ",")
}

// writeVerification prints a verification as aligned "name value" lines.
func writeVerification(w io.Writer, v *kycv1.Verification) {
	line := func(name, value string) { fmt.Fprintf(w, "%-16s %s\n", name, value) }
	line("verification_id", v.GetVerificationId())
	line("provider", v.GetProvider())
	line("program_id", v.GetProgramId())
	line("subject", subjectText(v.GetSubject()))
	st := statusName(v.GetStatus())
	if ps := v.GetProviderStatus(); ps != "" {
		st += " (provider: " + ps + ")"
	}
	line("status", st)
	line("attempt", strconv.Itoa(int(v.GetAttempt())))
	if v.GetCreatedAt() != nil {
		line("created_at", timeText(v.GetCreatedAt()))
	}
	if v.GetUpdatedAt() != nil {
		line("updated_at", timeText(v.GetUpdatedAt()))
	}
	if v.GetPassedAt() != nil {
		line("passed_at", timeText(v.GetPassedAt()))
	}
	next := nextActionLines(v.GetNextAction())
	if len(next) == 0 {
		next = []string{"none"}
	}
	line("next_action", next[0])
	for _, l := range next[1:] {
		line("", l)
	}
	if len(v.GetChecks()) > 0 {
		line("checks", checksText(v.GetChecks()))
	}
	if r := v.GetReason(); r.GetCode() != "" || r.GetDescription() != "" {
		line("reason", strings.TrimPrefix(r.GetCode()+": "+r.GetDescription(), ": "))
	}
}

// eventLine is one event as key=value pairs, easy to read and to grep.
func eventLine(ev *kycv1.Event) string {
	var b strings.Builder
	kv := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if strings.ContainsAny(v, " \"=") {
			v = strconv.Quote(v)
		}
		b.WriteString(k + "=" + v)
	}
	kv("event_id", ev.GetEventId())
	kv("verification_id", ev.GetVerificationId())
	kv("provider", ev.GetProvider())
	kv("status", statusName(ev.GetStatus()))
	if p := ev.GetPreviousStatus(); p != kycv1.KycStatus_KYC_STATUS_UNSPECIFIED {
		kv("previous", statusName(p))
	}
	kv("source", strings.ToLower(strings.TrimPrefix(ev.GetSource().String(), "EVENT_SOURCE_")))
	kv("provider_event", ev.GetProviderEvent())
	kv("attempt", strconv.Itoa(int(ev.GetAttempt())))
	kv("next", nextActionShort(ev.GetNextAction()))
	if len(ev.GetChecks()) > 0 {
		kv("checks", checksText(ev.GetChecks()))
	}
	kv("reason", ev.GetReason().GetCode())
	kv("reason_description", ev.GetReason().GetDescription())
	if ev.GetOccurredAt() != nil {
		kv("occurred_at", timeText(ev.GetOccurredAt()))
	}
	return b.String()
}
