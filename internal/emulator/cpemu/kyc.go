package cpemu

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// The documented getUserInfo statuses (published document 004), and ACCEPTED, which the SDK's enum adds.
const (
	stNotRegistered    = "NOT_REGISTERED"
	stLV1              = "LV1"
	stPending          = "PENDING"
	stRejected         = "REJECTED"
	stApprovedVerified = "APPROVED_VERIFIED"
	stAccepted         = "ACCEPTED"
	stNeedResubmit     = "NEED_RESUBMIT"
)

// initialAttempts is the documented "user have 3 attempts".
const initialAttempts = 3

// kycProvider is the vendor whose SDK the tokens are for.
const kycProvider = "JUMIO"

// user is one self-registered user and their KYC.
type user struct {
	uuid       string
	username   string
	password   [32]byte // SHA-256: the emulator never keeps a password
	lastSignOn time.Time

	status    string
	remaining int
	// The last accepted SDK result, and what the user's PENDING turns into ReviewDelay after
	// submittedAt ("" holds it until a control call).
	accountID, workflowID string
	submittedAt           time.Time
	outcome               string
}

// settle applies a due review outcome. Transitions are computed on read so the emulator needs
// no goroutines (and a test clock moves them).
func (e *Emulator) settle(u *user) {
	if u.status == stPending && u.outcome != "" && !e.now().Before(u.submittedAt.Add(e.opts.ReviewDelay)) {
		e.log.Info("cloudpayments sandbox: review finished", "uuid", u.uuid, "status", u.outcome)
		u.status, u.outcome = u.outcome, ""
	}
}

// userInfo is the getUserInfo body.
type userInfo struct {
	Status            string `json:"status"`
	KycProvider       string `json:"kycProvider"`
	RemainingAttempts int    `json:"remainingAttempts"`
}

func infoOf(u *user) userInfo {
	return userInfo{Status: u.status, KycProvider: kycProvider, RemainingAttempts: u.remaining}
}

func (e *Emulator) getUserInfo(w http.ResponseWriter, r *http.Request) {
	u := e.bearerUser(w, r)
	if u == nil {
		return
	}
	e.settle(u)
	e.userInfoCalls++
	info := infoOf(u)
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, info)
}

// sdkToken is the getToken body.
type sdkToken struct {
	Token       string `json:"token"`
	KycProvider string `json:"kycProvider"`
}

func (e *Emulator) getToken(w http.ResponseWriter, r *http.Request) {
	// deviceId is optional and only identifies the device to the vendor; it is not checked.
	u := e.bearerUser(w, r)
	if u == nil {
		return
	}
	e.settle(u)
	switch u.status {
	case stNotRegistered, stLV1, stNeedResubmit:
	default:
		code, msg := refusal(u.status)
		e.mu.Unlock()
		e.writeCPError(w, http.StatusBadRequest, code, msg)
		return
	}
	if u.status != stLV1 {
		e.log.Info("cloudpayments sandbox: KYC started", "uuid", u.uuid, "from", u.status)
	}
	u.status = stLV1
	e.mu.Unlock()
	var b [32]byte
	_, _ = rand.Read(b[:])
	writeJSON(w, http.StatusOK, sdkToken{Token: base64.RawURLEncoding.EncodeToString(b[:]), KycProvider: kycProvider})
}

// registerRequest is the registerUser body: the vendor SDK's result.
type registerRequest struct {
	AccountID  string `json:"accountId"`
	WorkflowID string `json:"workflowId"`
}

func (e *Emulator) registerUser(w http.ResponseWriter, r *http.Request) {
	// Read before taking the lock that bearerUser returns with: a slow client must not hold it.
	body, readErr := io.ReadAll(r.Body)
	u := e.bearerUser(w, r)
	if u == nil {
		return
	}
	status, v := e.registerLocked(u, body, readErr)
	e.mu.Unlock()
	writeJSON(w, status, v)
}

// registerLocked applies a registerUser body to u and returns the answer. e.mu must be held.
func (e *Emulator) registerLocked(u *user, body []byte, readErr error) (int, any) {
	var req registerRequest
	if readErr != nil || json.Unmarshal(stripTrailingCommas(body), &req) != nil {
		return e.cpError(http.StatusBadRequest, "INVALID_REQUEST", "The request body is not valid JSON")
	}
	if strings.TrimSpace(req.AccountID) == "" || strings.TrimSpace(req.WorkflowID) == "" {
		return e.cpError(http.StatusBadRequest, "INVALID_REQUEST", "accountId and workflowId are required")
	}
	e.settle(u)
	switch {
	case u.status == stPending && req.AccountID == u.accountID && req.WorkflowID == u.workflowID:
		// The same SDK result again (a client retrying): already registered, nothing new.
		e.registrations++
		return http.StatusOK, infoOf(u)
	case u.status != stLV1:
		code, msg := refusal(u.status)
		return e.cpError(http.StatusBadRequest, code, msg)
	}
	u.remaining--
	u.status, u.accountID, u.workflowID, u.submittedAt = stPending, req.AccountID, req.WorkflowID, e.now()
	u.outcome = outcomeOf(req.WorkflowID, u.remaining)
	e.registrations++
	e.submissions++
	e.log.Info("cloudpayments sandbox: KYC submitted", "uuid", u.uuid, "outcome", nonEmpty(u.outcome, "held for review"))
	return http.StatusOK, infoOf(u)
}

// outcomeOf is the magic-value table of the package doc.
func outcomeOf(workflowID string, remaining int) string {
	w := strings.ToLower(workflowID)
	switch {
	case strings.HasPrefix(w, "reject"):
		return stRejected
	case strings.HasPrefix(w, "resubmit"):
		if remaining <= 0 {
			return stRejected
		}
		return stNeedResubmit
	case strings.HasPrefix(w, "review"):
		return ""
	}
	return stApprovedVerified
}

// refusal is the error for a KYC call the user's status does not allow.
func refusal(status string) (code, msg string) {
	switch status {
	case stPending:
		return "KYC_ALREADY_SUBMITTED", "The user's documents are already in review"
	case stApprovedVerified, stAccepted:
		return "KYC_ALREADY_APPROVED", "The user is already verified"
	case stRejected:
		return "KYC_REJECTED", "The user was rejected; contact support"
	}
	return "KYC_NOT_STARTED", "Call getToken and complete the SDK steps first"
}

// statusRE bounds forced statuses to enumeration-like values.
var statusRE = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,39}$`)

// forceRequest is the control endpoint's body.
type forceRequest struct {
	Status            string `json:"status"`
	RemainingAttempts *int   `json:"remainingAttempts"`
}

func (e *Emulator) forceStatus(w http.ResponseWriter, r *http.Request) {
	var req forceRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || !statusRE.MatchString(req.Status) ||
		(req.RemainingAttempts != nil && *req.RemainingAttempts < 0) {
		e.writeCPError(w, http.StatusBadRequest, "INVALID_REQUEST",
			`Send {"status":"<UPPER_CASE_STATUS>"} with an optional non-negative "remainingAttempts"`)
		return
	}
	e.mu.Lock()
	u := e.users[r.PathValue("uuid")]
	if u == nil {
		e.mu.Unlock()
		e.writeCPError(w, http.StatusNotFound, "USER_NOT_FOUND", "No user has this uuid")
		return
	}
	u.status, u.outcome = req.Status, ""
	if req.Status == stPending {
		u.submittedAt = e.now()
	}
	if req.RemainingAttempts != nil {
		u.remaining = *req.RemainingAttempts
	}
	info := infoOf(u)
	e.mu.Unlock()
	e.log.Info("cloudpayments sandbox: status forced", "uuid", u.uuid, "status", req.Status)
	writeJSON(w, http.StatusOK, info)
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
