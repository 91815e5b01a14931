package bondemu

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// Wire kyc_status values. Bond spells the two-word ones with spaces.
const (
	stSubmitted   = "submitted"
	stInitialized = "initialized"
	stUnderReview = "under review"
	stDocRequired = "document required"
	stReenter     = "reenter information" // emulator extension, see the package doc
	stPassed      = "passed"
	stFailed      = "failed"
	stError       = "error"
	stExpired     = "expired"
)

var (
	uuidRE        = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	ssnRE         = regexp.MustCompile(`^(\d{9}|\d{3}-\d{2}-\d{4})$`)
	phoneRE       = regexp.MustCompile(`^\d+(-\d+)*$`)
	countryCodeRE = regexp.MustCompile(`^\d{1,3}$`)
)

// subject is a customer or a beneficial owner. Beneficial owners are keyed by their own id:
// /simulate and webhooks name them without a business_id.
type subject struct {
	bo         bool
	id         string
	businessID string
}

func (s subject) key() string {
	if s.bo {
		return "beneficial_owner:" + s.id
	}
	return "customer:" + s.id
}

func (s subject) idField() string {
	if s.bo {
		return "beneficial_owner_id"
	}
	return "customer_id"
}

func (s subject) noun() string {
	if s.bo {
		return "beneficial owner"
	}
	return "customer"
}

// kycRecord is the state of one (subject, program_id).
type kycRecord struct {
	subject   subject
	programID string
	status    string
	// attempt increases with every new attempt and every simulate call, so a scheduled
	// outcome of an older attempt finds itself stale and does nothing.
	attempt  int
	passedAt time.Time
	outcome  outcome
}

// outcome is what a submitted attempt turns into.
type outcome struct {
	event        string
	status       string
	documents    []string
	fields       []string
	reasons      obj // the failure reasons object
	errorCode    string
	description  string
	noOccurredAt bool // reenter_information is documented without occurred_at
	// next, when set, follows this outcome Options.WebhookDelay later within the same attempt
	// (the multi-event sequences of the emulator's extension SSNs).
	next *outcome
}

var allPassed = obj{{"ofac", "passed"}, {"bureau", "passed"}, {"mobile", "passed"}, {"ip", "passed"}, {"email", "passed"}}

// outcomeFor maps an SSN (digits only) to its outcome; see the package doc table.
func outcomeFor(ssnDigits string) outcome {
	dr := func(docs ...string) outcome {
		return outcome{event: "kyc.verification.document_required", status: stDocRequired, documents: docs}
	}
	success := outcome{event: "kyc.verification.success", status: stPassed}
	review := outcome{event: "kyc.verification.under_review", status: stUnderReview}
	switch ssnDigits {
	case "000000000":
		return review
	case "000000001":
		review.next = &success
		return review
	case "111110001":
		review.next = &success
		oc := dr("government_id")
		oc.next = &review
		return oc
	case "111111111":
		return dr("social_security_card", "government_id")
	case "222222222":
		return dr("government_id", "proof_of_address")
	case "333333333":
		return dr("government_id")
	case "444444444":
		return dr("social_security_card", "government_id", "proof_of_address")
	case "555555555":
		return outcome{event: "kyc.verification.reenter_information", status: stReenter,
			fields: []string{"first_name", "last_name", "ssn"}, noOccurredAt: true}
	case "666666666":
		return outcome{event: "kyc.verification.failure", status: stFailed,
			reasons: obj{{"ofac", "failed"}, {"bureau", "passed"}, {"mobile", "passed"}, {"ip", "passed"}, {"email", "passed"}}}
	case "666660001":
		return outcome{event: "kyc.verification.failure", status: stFailed, errorCode: "po_box_failure",
			description: "Customer address is a PO Box. Request a new address"}
	case "777777777":
		return outcome{event: "kyc.verification.error", status: stError}
	case "888888888":
		return outcome{event: "kyc.verification.timeout", status: stExpired}
	}
	return success
}

// personaTemplates are the hosted upload templates of the published documents' links, by document type.
var personaTemplates = map[string]string{
	"government_id":        "tmpl_111111111111111111111111",
	"proof_of_address":     "tmpl_222222222222222222222222",
	"social_security_card": "tmpl_333333333333333333333333",
}

// pathSubject reads and checks the subject from the URL. It writes the 404 itself.
func pathSubject(w http.ResponseWriter, r *http.Request) (subject, bool) {
	if id := r.PathValue("customer_id"); id != "" {
		if !uuidRE.MatchString(id) {
			writeEnvelope(w, http.StatusNotFound, "customer_invalid_uuid4", "Customer ID is not a valid UUID4.")
			return subject{}, false
		}
		return subject{id: strings.ToLower(id)}, true
	}
	biz, bo := r.PathValue("business_id"), r.PathValue("beneficial_owner_id")
	if !uuidRE.MatchString(biz) {
		writeEnvelope(w, http.StatusNotFound, "business_dne", "Business does not exist.")
		return subject{}, false
	}
	if !uuidRE.MatchString(bo) {
		writeEnvelope(w, http.StatusNotFound, "business_dne", "Beneficial owner does not exist for this business.")
		return subject{}, false
	}
	return subject{bo: true, id: strings.ToLower(bo), businessID: strings.ToLower(biz)}, true
}

// recordFor returns the record of (s, program) or nil; a beneficial owner looked up under
// another business does not exist.
func (e *Emulator) recordFor(s subject, program string) (*kycRecord, bool) {
	r := e.kycs[s.key()+"|"+strings.ToLower(program)]
	if r == nil {
		return nil, true
	}
	if s.bo && s.businessID != "" && r.subject.businessID != s.businessID {
		return nil, false
	}
	return r, true
}

// postKYC starts a KYC for a customer or a beneficial owner.
func (e *Emulator) postKYC(w http.ResponseWriter, r *http.Request) {
	s, ok := pathSubject(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeFieldErrors(w, "kyc_post_schema", map[string][]string{"_schema": {"Request body too large."}})
		return
	}
	req, fieldErrs := e.validateKYCBody(body, s.bo)
	if len(fieldErrs) > 0 {
		writeFieldErrors(w, "kyc_post_schema", fieldErrs)
		return
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		k := r.Header.Get("Identity") + "\x00" + key
		if first, seen := e.idem[k]; seen && now.Sub(first) < idempotencyTTL {
			writeJSON(w, http.StatusConflict, obj{
				{"type", "RESOURCE_CONFLICT"},
				{"code", "idempotency_key_exists"},
				{"message", "A request was made with this idempotency key in the past 24 hours"},
			})
			return
		}
		e.rememberKey(k, now)
	}
	rec, ok := e.recordFor(s, req.programID)
	if !ok {
		writeEnvelope(w, http.StatusNotFound, "business_dne", "Beneficial owner does not exist for this business.")
		return
	}
	if rec != nil {
		switch rec.status {
		case stPassed:
			writeEnvelope(w, http.StatusConflict, "kyc_reinit_fail",
				"KYC already passed for this "+s.noun()+" at "+pyTime(rec.passedAt))
			return
		case stSubmitted, stInitialized, stUnderReview, stDocRequired:
			writeEnvelope(w, http.StatusConflict, "kyc_init_fail", "KYC already initialized for this "+s.noun())
			return
		}
		// error, expired, failed, reenter information: a new attempt.
	} else {
		rec = &kycRecord{subject: s, programID: strings.ToLower(req.programID)}
		e.kycs[s.key()+"|"+rec.programID] = rec
	}
	rec.attempt++
	rec.status = stSubmitted
	if s.bo {
		rec.status = stInitialized
	}
	rec.outcome = outcomeFor(strings.ReplaceAll(req.ssn, "-", ""))
	e.submissions++
	attempt, oc := rec.attempt, rec.outcome
	e.goAfter(e.opts.WebhookDelay, func(context.Context) { e.settle(rec, attempt, oc) })
	e.log.Debug("kyc submitted", "subject", s.key(), "program_id", rec.programID, "attempt", attempt)
	writeJSON(w, http.StatusCreated, obj{{s.idField(), s.id}, {"kyc_status", rec.status}})
}

// rememberKey records an idempotency key, sweeping expired keys at most once a minute so the
// map stays bounded without a janitor goroutine.
func (e *Emulator) rememberKey(k string, now time.Time) {
	e.idem[k] = now
	if now.Sub(e.idemSweep) < time.Minute {
		return
	}
	e.idemSweep = now
	for key, t := range e.idem {
		if now.Sub(t) >= idempotencyTTL {
			delete(e.idem, key)
		}
	}
}

type kycBody struct {
	programID string
	ssn       string
}

// validateKYCBody applies the documented field formats, marshmallow style: every problem is
// reported, keyed by field, and unknown fields are refused.
func (e *Emulator) validateKYCBody(body []byte, bo bool) (kycBody, map[string][]string) {
	errs := map[string][]string{}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil || raw == nil {
		return kycBody{}, map[string][]string{"_schema": {"Invalid input type."}}
	}
	str := map[string]string{}
	for k, v := range raw {
		switch k {
		case "program_id", "ssn", "phone", "phone_country_code", "email", "ip":
			if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
				continue
			}
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				errs[k] = append(errs[k], "Not a valid string.")
				continue
			}
			str[k] = s
		case "kyc_retry_request":
			var b bool
			if err := json.Unmarshal(v, &b); err != nil {
				errs[k] = append(errs[k], "Not a valid boolean.")
			}
		default:
			errs[k] = append(errs[k], "Unknown field.")
		}
	}
	// An empty string is "not given" (the published documents send "ip": "").
	check := func(field string, ok func(string) bool, msg string) {
		v, present := str[field]
		if _, bad := errs[field]; bad {
			return
		}
		if !present || v == "" {
			if e.required[field] {
				errs[field] = append(errs[field], "Missing data for required field.")
			}
			return
		}
		if !ok(v) {
			errs[field] = append(errs[field], msg)
		}
	}
	check("program_id", uuidRE.MatchString, "Not a valid UUID.")
	check("ssn", ssnRE.MatchString, "Invalid SSN. Expected ######### or ###-##-####.")
	check("phone", phoneRE.MatchString, "Invalid phone number. Expected digits or digits with dashes.")
	check("phone_country_code", countryCodeRE.MatchString, "Invalid country code. Expected 1 to 3 digits.")
	check("email", validEmail, "Not a valid email address.")
	check("ip", validIPv4, "Not a valid IPv4 address.")
	if len(errs) > 0 {
		return kycBody{}, errs
	}
	return kycBody{programID: str["program_id"], ssn: str["ssn"]}, nil
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s[strings.LastIndexByte(s, '@'):], ".")
}

func validIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

// settle applies an attempt's outcome when its delay has passed, then sends the webhook.
func (e *Emulator) settle(rec *kycRecord, attempt int, oc outcome) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if rec.attempt != attempt {
		return // superseded by a new attempt or a simulate call
	}
	now := e.now()
	rec.status = oc.status
	rec.outcome = oc
	if oc.status == stPassed {
		rec.passedAt = now
	}
	e.publishLocked(rec.subject.key(), oc.event, e.payload(rec, oc, now))
	switch {
	case oc.next != nil:
		next := *oc.next
		e.goAfter(e.opts.WebhookDelay, func(context.Context) { e.settle(rec, attempt, next) })
	case oc.status == stUnderReview && e.opts.ReviewDelay > 0:
		e.goAfter(e.opts.ReviewDelay, func(context.Context) {
			e.settle(rec, attempt, outcome{event: "kyc.verification.success", status: stPassed})
		})
	}
}

// payload is the webhook body of oc for rec, in the documented member order.
func (e *Emulator) payload(rec *kycRecord, oc outcome, now time.Time) obj {
	p := obj{{"event", oc.event}, {rec.subject.idField(), rec.subject.id}}
	if !oc.noOccurredAt {
		p = append(p, member{"occurred_at", pyTime(now)})
	}
	if oc.reasons != nil {
		p = append(p, member{"reasons", oc.reasons})
	}
	if oc.errorCode != "" {
		p = append(p, member{"error_code", oc.errorCode})
	}
	if oc.status == stReenter {
		p = append(p, member{"description", "Re enter the below information for this " + rec.subject.noun() +
			"'s KYC attempt on program " + rec.programID})
	} else if oc.description != "" {
		p = append(p, member{"description", oc.description})
	}
	if len(oc.documents) > 0 {
		docs := make([]obj, 0, len(oc.documents))
		for _, d := range oc.documents {
			docs = append(docs, obj{
				{"document_type", d},
				{"upload_link", "https://withpersona.com/verify?template-id=" + personaTemplates[d] +
					"&reference-id=" + rec.subject.id},
				{"status", "required"},
			})
		}
		p = append(p, member{"documents", docs})
	}
	if len(oc.fields) > 0 {
		p = append(p, member{"fields", oc.fields})
	}
	return p
}

// getKYC reports the KYC of a subject for ?program_id=.
func (e *Emulator) getKYC(w http.ResponseWriter, r *http.Request) {
	s, ok := pathSubject(w, r)
	if !ok {
		return
	}
	program := r.URL.Query().Get("program_id")
	switch {
	case program == "":
		writeFieldErrors(w, "get_kyc_schema", map[string][]string{"program_id": {"Missing data for required field."}})
		return
	case !uuidRE.MatchString(program):
		writeFieldErrors(w, "get_kyc_schema", map[string][]string{"program_id": {"Not a valid UUID."}})
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, ok := e.recordFor(s, program)
	if !ok {
		writeEnvelope(w, http.StatusNotFound, "business_dne", "Beneficial owner does not exist for this business.")
		return
	}
	if rec == nil {
		writeEnvelope(w, http.StatusNotFound, "kyc_dne", "KYC result could not be found")
		return
	}
	resp := obj{{s.idField(), s.id}, {"brand_id", e.brandID}, {"kyc_status", rec.status}}
	if rec.status == stPassed || rec.status == stFailed {
		resp = append(resp, e.details(rec)...)
	}
	writeJSON(w, http.StatusOK, resp)
}

// details are the results, health and info members of a decided KYC, as in published document 002, plus
// error_code and description when the failure had them (an extension: the docs show those in
// webhooks only).
func (e *Emulator) details(rec *kycRecord) obj {
	results := allPassed
	switch {
	case rec.status == stFailed && rec.outcome.reasons != nil:
		results = rec.outcome.reasons
	case rec.status == stFailed:
		results = obj{{"ofac", "passed"}, {"bureau", "failed"}, {"mobile", "passed"}, {"ip", "passed"}, {"email", "passed"}}
	}
	ofacMatched := results[0].v == "failed" // ofac is always first
	appStatus := "Pass"
	if rec.status == stFailed {
		appStatus = "Fail"
	}
	d := obj{
		{"results", results},
		{"health", obj{{"overall", "SERVICE_GOOD"}, {"ofac", "SERVICE_GOOD"}, {"bureau", "SERVICE_GOOD"},
			{"email", "SERVICE_GOOD"}, {"ip", "SERVICE_GOOD"}, {"mobile", "SERVICE_GOOD"}}},
		{"info", obj{
			{"ofac", obj{{"name_matched", ofacMatched}, {"dob_matched", ofacMatched}}},
			{"bureau", obj{{"application_status", appStatus}}},
			{"phone", obj{{"first_name_match", 100}, {"last_name_match", 100}, {"address_match", nil},
				{"service_status", "ACTIVE"}, {"service_type", "CONTRACT"}, {"service_duration", "UNKNOWN"},
				{"service_ported_duration", "NONE"}}},
		}},
	}
	if rec.status == stFailed && rec.outcome.errorCode != "" {
		d = append(d, member{"error_code", rec.outcome.errorCode}, member{"description", rec.outcome.description})
	}
	return d
}

// simulate implements /simulate/kyc-pass and /simulate/kyc-fail: the KYC is decided at once
// and the matching webhook is sent without delay.
func (e *Emulator) simulate(status string) http.HandlerFunc {
	event := "kyc.verification.success"
	if status == stFailed {
		event = "kyc.verification.failure"
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var req subjectRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeFieldErrors(w, "simulate_schema", map[string][]string{"_schema": {"Invalid input type."}})
			return
		}
		s, errs := req.subject()
		if len(errs) > 0 {
			writeFieldErrors(w, "simulate_schema", errs)
			return
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		rec, _ := e.recordFor(s, req.ProgramID)
		if rec == nil {
			writeEnvelope(w, http.StatusNotFound, "kyc_dne", "KYC result could not be found")
			return
		}
		rec.attempt++ // cancels whatever was scheduled for the current attempt
		oc := outcome{event: event, status: status}
		if status == stFailed {
			oc.reasons = obj{{"ofac", "passed"}, {"bureau", "failed"}, {"mobile", "passed"}, {"ip", "passed"}, {"email", "passed"}}
		}
		rec.outcome = oc
		rec.status = status
		now := e.now()
		if status == stPassed {
			rec.passedAt = now
		}
		e.publishLocked(rec.subject.key(), event, e.payload(rec, oc, now))
		writeJSON(w, http.StatusOK, obj{{rec.subject.idField(), rec.subject.id}, {"kyc_status", status}})
	}
}

// subjectRequest names a KYC in the simulate and sandbox control bodies.
type subjectRequest struct {
	CustomerID        string `json:"customer_id"`
	BeneficialOwnerID string `json:"beneficial_owner_id"`
	ProgramID         string `json:"program_id"`
}

// subject checks the request, marshmallow style.
func (req subjectRequest) subject() (subject, map[string][]string) {
	errs := map[string][]string{}
	s := subject{id: strings.ToLower(req.CustomerID)}
	switch {
	case req.CustomerID != "" && req.BeneficialOwnerID != "":
		errs["customer_id"] = []string{"Give customer_id or beneficial_owner_id, not both."}
	case req.CustomerID != "":
	case req.BeneficialOwnerID != "":
		s = subject{bo: true, id: strings.ToLower(req.BeneficialOwnerID)}
	default:
		errs["customer_id"] = []string{"Missing data for required field."}
	}
	if !uuidRE.MatchString(req.ProgramID) {
		errs["program_id"] = []string{"Not a valid UUID."}
	}
	return s, errs
}

// forceStatus implements POST /_sandbox/kyc-status (an emulator extension): it sets the raw
// kyc_status a GET reports, any string at all, so clients' handling of values no table names
// can be tested, and, when event is given, sends a webhook with that event name (event,
// subject id and occurred_at). Whatever was scheduled for the current attempt is cancelled.
func (e *Emulator) forceStatus(w http.ResponseWriter, r *http.Request) {
	var req struct {
		subjectRequest
		KYCStatus string `json:"kyc_status"`
		Event     string `json:"event"`
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeFieldErrors(w, "sandbox_schema", map[string][]string{"_schema": {"Invalid input type."}})
		return
	}
	s, errs := req.subject()
	if req.KYCStatus == "" {
		errs["kyc_status"] = []string{"Missing data for required field."}
	}
	if len(errs) > 0 {
		writeFieldErrors(w, "sandbox_schema", errs)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	rec, _ := e.recordFor(s, req.ProgramID)
	if rec == nil {
		writeEnvelope(w, http.StatusNotFound, "kyc_dne", "KYC result could not be found")
		return
	}
	rec.attempt++
	rec.status = req.KYCStatus
	rec.outcome = outcome{event: req.Event, status: req.KYCStatus}
	now := e.now()
	if rec.status == stPassed {
		rec.passedAt = now
	}
	if req.Event != "" {
		e.publishLocked(rec.subject.key(), req.Event, e.payload(rec, rec.outcome, now))
	}
	writeJSON(w, http.StatusOK, obj{{rec.subject.idField(), rec.subject.id}, {"kyc_status", rec.status}})
}
