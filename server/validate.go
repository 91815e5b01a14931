package server

import (
	"fmt"
	"net/mail"
	"net/netip"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/providers"
)

// Formats from the provider documents (Bond/Atelio KYC request fields) are checked by the
// matchers in match.go.

const (
	maxToken          = 8 << 10
	maxOpaqueID       = 256
	maxIdempotencyKey = 255
	maxPhone          = 32
	maxEmail          = 254
)

// validateStart checks every field's syntax. Provider-specific requirements (which subject
// kinds, which id formats, which fields a program needs) are the adapter's ValidateStart.
func validateStart(req *kycv1.StartRequest) []fieldViolation {
	var vs []fieldViolation
	add := func(f, r string) { vs = append(vs, fieldViolation{f, r}) }

	if req.GetProvider() == "" {
		add("provider", "required")
	}
	switch p := req.GetProgramId(); {
	case p == "":
		add("program_id", "required")
	case !providers.IsUUID(p):
		add("program_id", "must be a UUID")
	}
	switch k := req.GetSubject().GetKind().(type) {
	case nil:
		add("subject", "required: one of customer_id, beneficial_owner, user_id")
	case *kycv1.Subject_CustomerId:
		checkID(add, "subject.customer_id", k.CustomerId)
	case *kycv1.Subject_UserId:
		checkID(add, "subject.user_id", k.UserId)
	case *kycv1.Subject_BeneficialOwner:
		checkID(add, "subject.beneficial_owner.business_id", k.BeneficialOwner.GetBusinessId())
		checkID(add, "subject.beneficial_owner.beneficial_owner_id", k.BeneficialOwner.GetBeneficialOwnerId())
	}

	a := req.GetApplicant()
	if s := a.GetSsn(); s != "" && !providers.IsSSN(s) {
		add("applicant.ssn", "must be 9 digits, as ######### or ###-##-####")
	}
	if p := a.GetPhone(); p != "" && (len(p) > maxPhone || !providers.IsPhone(p)) {
		add("applicant.phone", "must be digits, or digits with dashes")
	}
	if c := a.GetPhoneCountryCode(); c != "" && !providers.IsCountryCode(c) {
		add("applicant.phone_country_code", "must be 1 to 3 digits")
	}
	if e := a.GetEmail(); e != "" && !validEmail(e) {
		add("applicant.email", "must be a valid email address")
	}
	if ip := a.GetIp(); ip != "" {
		if addr, err := netip.ParseAddr(ip); err != nil || !addr.Is4() {
			add("applicant.ip", "must be an IPv4 address in dot-decimal form")
		}
	}
	if cp := req.GetCloudpayments(); cp != nil {
		checkOpaque(add, "cloudpayments.access_token", cp.GetAccessToken(), maxToken)
		checkOpaque(add, "cloudpayments.refresh_token", cp.GetRefreshToken(), maxToken)
		checkOpaque(add, "cloudpayments.device_id", cp.GetDeviceId(), maxOpaqueID)
		checkOpaque(add, "cloudpayments.account_id", cp.GetAccountId(), maxOpaqueID)
		checkOpaque(add, "cloudpayments.workflow_id", cp.GetWorkflowId(), maxOpaqueID)
	}
	if k := req.GetIdempotencyKey(); k != "" {
		if v := checkIdempotencyKey(k); v != "" {
			add("idempotency_key", v)
		}
	}
	return vs
}

func checkID(add func(string, string), field, id string) {
	switch {
	case id == "":
		add(field, "required")
	case !isSubjectID(id):
		add(field, "must be 1 to 128 letters, digits or . _ : -")
	}
}

// checkOpaque accepts an optional opaque value (token, provider id) of printable ASCII up to
// max bytes. Which ones are required is the provider's rule.
func checkOpaque(add func(string, string), field, v string, max int) {
	if len(v) > max {
		add(field, fmt.Sprintf("must be at most %d bytes", max))
		return
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			add(field, "must be printable ASCII without spaces")
			return
		}
	}
}

func validEmail(e string) bool {
	if len(e) > maxEmail {
		return false
	}
	a, err := mail.ParseAddress(e)
	// ParseAddress accepts display names and comments; an API field holds the bare address.
	return err == nil && a.Address == e && a.Name == ""
}

// checkIdempotencyKey returns why k is not a usable key, or "".
func checkIdempotencyKey(k string) string {
	if len(k) > maxIdempotencyKey {
		return "must be at most 255 characters"
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "must be printable ASCII without spaces"
		}
	}
	return ""
}

func validateVerificationID(id string) []fieldViolation {
	switch {
	case id == "":
		return []fieldViolation{{"verification_id", "required"}}
	case !isVerificationID(id):
		return []fieldViolation{{"verification_id", "malformed: ids look like vrf_ followed by 32 characters"}}
	}
	return nil
}
