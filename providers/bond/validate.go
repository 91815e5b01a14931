package bond

import (
	"net/netip"
	"strings"

	"github.com/kycgw/kycgw/providers"
)

// ValidateStart checks what Bond requires beyond the gateway's syntactic checks, in the formats
// Bond documents for the verification-kyc body: the subject is a customer or a beneficial
// owner with UUID ids (Bond has no user_id subjects), the program id is a UUID, the applicant
// fields present have Bond's formats, and the ip is given when this instance's program
// requires it. Checking here saves a provider round trip and names the field the same way a
// provider 400 would. Errors are *providers.FieldError.
func (c *Client) ValidateStart(in providers.StartInput) error {
	if in.CloudPayments != nil {
		return &providers.FieldError{Field: "cloudpayments", Reason: "not accepted by " + c.name}
	}
	s := in.Subject
	switch s.Kind() {
	case providers.SubjectCustomer:
		if s.BusinessID != "" || s.BeneficialOwnerID != "" || s.UserID != "" {
			return &providers.FieldError{Field: "subject", Reason: "exactly one of customer_id or beneficial_owner must be set"}
		}
		if !providers.IsUUID(s.CustomerID) {
			return &providers.FieldError{Field: "subject.customer_id", Reason: "must be a UUID"}
		}
	case providers.SubjectBeneficialOwner:
		if s.UserID != "" {
			return &providers.FieldError{Field: "subject", Reason: "exactly one of customer_id or beneficial_owner must be set"}
		}
		if !providers.IsUUID(s.BusinessID) {
			return &providers.FieldError{Field: "subject.beneficial_owner.business_id", Reason: "must be a UUID"}
		}
		if !providers.IsUUID(s.BeneficialOwnerID) {
			return &providers.FieldError{Field: "subject.beneficial_owner.beneficial_owner_id", Reason: "must be a UUID"}
		}
	case providers.SubjectUser:
		return &providers.FieldError{Field: "subject", Reason: "user_id subjects are not supported by " + c.name + "; use customer_id or beneficial_owner"}
	default:
		return &providers.FieldError{Field: "subject", Reason: "required"}
	}
	if !providers.IsUUID(in.ProgramID) {
		return &providers.FieldError{Field: "program_id", Reason: "must be a UUID"}
	}
	a := in.Applicant
	if a.SSN != "" && !providers.IsSSN(a.SSN) {
		return &providers.FieldError{Field: "applicant.ssn", Reason: "must be ######### or ###-##-####"}
	}
	if a.Phone != "" && !providers.IsPhone(a.Phone) {
		return &providers.FieldError{Field: "applicant.phone", Reason: "must be digits, optionally separated by dashes"}
	}
	if a.PhoneCountryCode != "" && !providers.IsCountryCode(a.PhoneCountryCode) {
		return &providers.FieldError{Field: "applicant.phone_country_code", Reason: "must be 1 to 3 digits"}
	}
	if a.Email != "" && !plausibleEmail(a.Email) {
		return &providers.FieldError{Field: "applicant.email", Reason: "must be an email address"}
	}
	if a.IP == "" && c.requireIP {
		return &providers.FieldError{Field: "applicant.ip", Reason: "required by this program"}
	}
	if a.IP != "" {
		if ip, err := netip.ParseAddr(a.IP); err != nil || !ip.Is4() {
			return &providers.FieldError{Field: "applicant.ip", Reason: "must be an IPv4 address"}
		}
	}
	return nil
}

// plausibleEmail is deliberately loose: the provider owns the real rule, this only catches
// values that cannot be an address.
func plausibleEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t\r\n")
}
