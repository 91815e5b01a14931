package bond

import (
	"net/netip"
	"regexp"
	"strings"

	"github.com/kycgw/kycgw/providers"
)

// The formats below are the ones Bond documents for the verification-kyc body. Checking them
// here saves a provider round trip and names the field the same way a provider 400 would.
var (
	uuidRE        = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	ssnRE         = regexp.MustCompile(`^(\d{9}|\d{3}-\d{2}-\d{4})$`)
	phoneRE       = regexp.MustCompile(`^\d+(-\d+)*$`)
	countryCodeRE = regexp.MustCompile(`^\d{1,3}$`)
)

// ValidateStart checks what Bond requires beyond the gateway's syntactic checks: the subject
// is a customer or a beneficial owner with UUID ids (Bond has no user_id subjects), the
// program id is a UUID, the applicant fields present have Bond's formats, and the ip is given
// when this instance's program requires it. Errors are *providers.FieldError.
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
		if !uuidRE.MatchString(s.CustomerID) {
			return &providers.FieldError{Field: "subject.customer_id", Reason: "must be a UUID"}
		}
	case providers.SubjectBeneficialOwner:
		if s.UserID != "" {
			return &providers.FieldError{Field: "subject", Reason: "exactly one of customer_id or beneficial_owner must be set"}
		}
		if !uuidRE.MatchString(s.BusinessID) {
			return &providers.FieldError{Field: "subject.beneficial_owner.business_id", Reason: "must be a UUID"}
		}
		if !uuidRE.MatchString(s.BeneficialOwnerID) {
			return &providers.FieldError{Field: "subject.beneficial_owner.beneficial_owner_id", Reason: "must be a UUID"}
		}
	case providers.SubjectUser:
		return &providers.FieldError{Field: "subject", Reason: "user_id subjects are not supported by " + c.name + "; use customer_id or beneficial_owner"}
	default:
		return &providers.FieldError{Field: "subject", Reason: "required"}
	}
	if !uuidRE.MatchString(in.ProgramID) {
		return &providers.FieldError{Field: "program_id", Reason: "must be a UUID"}
	}
	a := in.Applicant
	if a.SSN != "" && !ssnRE.MatchString(a.SSN) {
		return &providers.FieldError{Field: "applicant.ssn", Reason: "must be ######### or ###-##-####"}
	}
	if a.Phone != "" && !phoneRE.MatchString(a.Phone) {
		return &providers.FieldError{Field: "applicant.phone", Reason: "must be digits, optionally separated by dashes"}
	}
	if a.PhoneCountryCode != "" && !countryCodeRE.MatchString(a.PhoneCountryCode) {
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
