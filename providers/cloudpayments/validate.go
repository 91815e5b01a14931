package cloudpayments

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/kycgw/kycgw/providers"
)

// ValidateStart checks what CloudPayments requires beyond the gateway's syntactic checks: the
// subject is a user (a UUID), the user's session is given, the SDK result is whole (accountId
// and workflowId together, or neither), no applicant data is sent (the vendor's SDK collects
// it), and the access token, when it is a JWT, belongs to the subject. Errors are
// *providers.FieldError.
func (c *Client) ValidateStart(in providers.StartInput) error {
	if err := c.validateSubject(in.Subject); err != nil {
		return err
	}
	if in.Applicant != (providers.Applicant{}) {
		return &providers.FieldError{Field: "applicant", Reason: "not used by " + c.name + ": the provider's SDK collects the applicant's data"}
	}
	cp := in.CloudPayments
	if cp == nil || cp.Session.AccessToken == "" {
		return &providers.FieldError{Field: "cloudpayments.access_token", Reason: "required: the user's CloudPayments access token"}
	}
	switch {
	case cp.AccountID != "" && cp.WorkflowID == "":
		return &providers.FieldError{Field: "cloudpayments.workflow_id", Reason: "required with account_id (both come from the SDK result)"}
	case cp.AccountID == "" && cp.WorkflowID != "":
		return &providers.FieldError{Field: "cloudpayments.account_id", Reason: "required with workflow_id (both come from the SDK result)"}
	}
	return checkTokenOwner(in.Subject.UserID, cp.Session.AccessToken)
}

func (c *Client) validateSubject(s providers.Subject) error {
	switch s.Kind() {
	case providers.SubjectUser:
		if !providers.IsUUID(s.UserID) {
			return &providers.FieldError{Field: "subject.user_id", Reason: "must be a UUID"}
		}
		return nil
	case providers.SubjectCustomer, providers.SubjectBeneficialOwner:
		return &providers.FieldError{Field: "subject", Reason: c.name + " verifies users: set subject.user_id, not a customer or beneficial owner"}
	}
	return &providers.FieldError{Field: "subject", Reason: "required: set subject.user_id"}
}

// checkTokenOwner refuses an access token issued to another user than the subject, so a
// verification can never be recorded under one user while it reads another's KYC. The
// signature is not verified (CloudPayments does that on every call); the payload is only read.
// A token that is not a JWT, or has no uuid claim, cannot be checked here and passes.
func checkTokenOwner(userID, accessToken string) error {
	owner, ok := tokenUUID(accessToken)
	if !ok || userID == "" || strings.EqualFold(owner, userID) {
		return nil
	}
	return &providers.FieldError{Field: "subject.user_id", Reason: "does not match the access token's user"}
}

// tokenUUID returns the uuid claim of a JWT's payload.
func tokenUUID(tok string) (string, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", false
	}
	var claims struct {
		UUID string `json:"uuid"`
	}
	if json.Unmarshal(raw, &claims) != nil || claims.UUID == "" {
		return "", false
	}
	return claims.UUID, true
}
