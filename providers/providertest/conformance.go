package providertest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kycgw/kycgw/internal/emulator/faults"
	"github.com/kycgw/kycgw/providers"
)

// Outcome is how a verification ends, as far as a conformance scenario is concerned.
type Outcome int

// The outcomes a Harness may be asked to produce. Each maps to one normalized status and one
// next action (see Status and Action).
const (
	Passed             Outcome = iota + 1 // PASSED, no action
	Failed                                // FAILED, no action
	DocumentsRequired                     // DOCUMENTS_REQUIRED, upload documents (each with a link)
	ReenterInformation                    // REENTER_INFORMATION, re-enter the named fields
	UnderReview                           // UNDER_REVIEW, no action; stays until decided
	Error                                 // ERROR, retry
	Expired                               // EXPIRED, retry
	Resubmit                              // RESUBMIT_REQUIRED, resubmit with attempts left
)

var outcomeInfo = map[Outcome]struct {
	name   string
	status providers.Status
	action providers.ActionKind
}{
	Passed:             {"passed", providers.StatusPassed, providers.ActionNone},
	Failed:             {"failed", providers.StatusFailed, providers.ActionNone},
	DocumentsRequired:  {"documents_required", providers.StatusDocumentsRequired, providers.ActionUploadDocuments},
	ReenterInformation: {"reenter_information", providers.StatusReenterInformation, providers.ActionReenterInformation},
	UnderReview:        {"under_review", providers.StatusUnderReview, providers.ActionNone},
	Error:              {"error", providers.StatusError, providers.ActionRetry},
	Expired:            {"expired", providers.StatusExpired, providers.ActionRetry},
	Resubmit:           {"resubmit", providers.StatusResubmitRequired, providers.ActionResubmit},
}

// Outcomes returns every Outcome, in declaration order.
func Outcomes() []Outcome {
	return []Outcome{Passed, Failed, DocumentsRequired, ReenterInformation, UnderReview, Error, Expired, Resubmit}
}

func (o Outcome) String() string {
	if i, ok := outcomeInfo[o]; ok {
		return i.name
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Status is the normalized status a verification ending in o must report.
func (o Outcome) Status() providers.Status { return outcomeInfo[o].status }

// Action is the next action a verification ending in o must ask for.
func (o Outcome) Action() providers.ActionKind { return outcomeInfo[o].action }

// InvalidInput is a Start input the provider must refuse for the caller's input, naming Field
// (a gateway field, e.g. "applicant.ssn").
type InvalidInput struct {
	Name  string
	In    providers.StartInput
	Field string
}

// Harness is what Run needs to exercise one configured provider instance against its
// emulator. The suite runs many subtests in parallel, so every func must be safe for
// concurrent use, and every Scenario must return a subject nobody used before.
type Harness struct {
	// Provider is the adapter under test, talking to its emulator over real HTTP.
	Provider providers.Provider
	// Scenario returns a Start input for a NEW subject whose verification ends in o, or
	// ok=false when the provider cannot produce o. Passed is required; UnderReview, when
	// supported, must stay under review. The suite sets IdempotencyKey on every Start.
	Scenario func(t *testing.T, o Outcome) (in providers.StartInput, ok bool)
	// Continue, for multi-step flows, returns the next Start input after a step answered
	// first (e.g. the SDK result after an ActionRunSDK), or ok=false when the flow is
	// complete. Nil for single-step providers.
	Continue func(t *testing.T, in providers.StartInput, first providers.Result) (next providers.StartInput, ok bool)
	// Await returns the provider's result for the subject of in once it has status want
	// (from webhooks received by a test receiver and parsed with the provider's ParseWebhook,
	// or by polling Status), and fails the test after a timeout.
	Await func(t *testing.T, in providers.StartInput, want providers.Status) providers.Result
	// Faults switches the emulator's HTTP faults; nil skips the fault subtests.
	Faults *faults.Injector
	// Submissions counts the emulator's accepted submissions (new attempts).
	Submissions func() int
	// Invalid returns inputs, each for a new subject, that the provider refuses for the
	// caller's input. Nil skips the invalid-input subtest.
	Invalid func(t *testing.T) []InvalidInput
	// ForceUnknown, when non-nil, makes the emulator report a raw status no mapping row
	// names for the (started) subject of in; webhook providers also send a webhook with an
	// unknown event name, whose ParseWebhook error must show up in WebhookErrors.
	ForceUnknown func(t *testing.T, in providers.StartInput)
	// WebhookErrors, for webhook providers, returns every error ParseWebhook returned to the
	// test receiver so far. The suite requires every one to be ErrUnknownStatus (caused by
	// ForceUnknown): any other means a delivery did not verify or parse. Nil for pollers.
	WebhookErrors func() []error
}

// Timing bounds of the suite.
const (
	// faultLatency is the injected latency the cancellation subtest cancels during.
	faultLatency = 2 * time.Second
	// cancelWithin is how soon a cancelled call must return.
	cancelWithin = time.Second
	// cancelAfter is when the cancellation subtest cancels.
	cancelAfter = 100 * time.Millisecond
)

// Run is the conformance suite every provider adapter passes against its emulator. Subtests
// that need exclusive use of the submission counter or the faults run one at a time after
// the parallel ones.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.Provider == nil || h.Scenario == nil || h.Await == nil || h.Submissions == nil {
		t.Fatal("providertest: Harness needs Provider, Scenario, Await and Submissions")
	}
	s := &suite{h: h}
	t.Run("capabilities", s.capabilities)
	t.Run("parallel", func(t *testing.T) {
		t.Run("start", s.start)
		t.Run("status", s.status)
		for _, o := range Outcomes() {
			t.Run("outcome/"+o.String(), func(t *testing.T) { s.outcome(t, o) })
		}
		t.Run("unknown_status", s.unknownStatus)
	})
	t.Run("invalid_input", s.invalidInput)
	t.Run("idempotent_retry", func(t *testing.T) { s.idempotentRetry(t, false) })
	t.Run("idempotent_retry_concurrent", func(t *testing.T) { s.idempotentRetry(t, true) })
	t.Run("already_passed", s.alreadyPassed)
	t.Run("faults", func(t *testing.T) {
		if h.Faults == nil {
			t.Skip("harness has no Faults")
		}
		t.Run("unavailable_5xx", func(t *testing.T) { s.unavailable(t, faults.Config{ErrorRate: 1}) })
		t.Run("unavailable_429", func(t *testing.T) { s.unavailable(t, faults.Config{RateLimitRate: 1}) })
		t.Run("unavailable_refused", func(t *testing.T) { s.unavailable(t, faults.Config{Refuse: true}) })
		t.Run("cancel_during_latency", s.cancelDuringLatency)
		t.Run("recovers", s.recovers)
	})
	t.Run("webhooks_verified", s.webhooksVerified)
}

type suite struct {
	h Harness
}

// NewUUID returns a random version 4 UUID, for harnesses that need fresh subject ids.
func NewUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newKey is a fresh idempotency key, shaped like the gateway's derived keys.
func newKey() string { return "kycgw-conformance:" + NewUUID() }

// scenario returns the harness's input for o with a fresh idempotency key, or skips.
func (s *suite) scenario(t *testing.T, o Outcome) providers.StartInput {
	t.Helper()
	in, ok := s.h.Scenario(t, o)
	if !ok {
		if o == Passed {
			t.Fatal("Scenario(Passed) is required")
		}
		t.Skipf("%s cannot produce outcome %s", s.h.Provider.Name(), o)
	}
	in.IdempotencyKey = newKey()
	return in
}

// firstOf returns a scenario for the first of os the provider can produce; the last is
// required.
func (s *suite) firstOf(t *testing.T, os ...Outcome) (providers.StartInput, Outcome) {
	t.Helper()
	for _, o := range os[:len(os)-1] {
		if in, ok := s.h.Scenario(t, o); ok {
			in.IdempotencyKey = newKey()
			return in, o
		}
	}
	o := os[len(os)-1]
	return s.scenario(t, o), o
}

// statusInput names the verification of in, with the newest session a result carried.
func statusInput(in providers.StartInput, last providers.Result) providers.StatusInput {
	si := providers.StatusInput{ProgramID: in.ProgramID, Subject: in.Subject}
	if in.CloudPayments != nil {
		sess := in.CloudPayments.Session
		si.Session = &sess
	}
	if last.Session != nil {
		sess := *last.Session
		si.Session = &sess
	}
	return si
}

// stepFunc makes the Start call(s) of one step and returns the result to continue from.
type stepFunc func(t *testing.T, in providers.StartInput) providers.Result

// plainStep is one Start that must succeed.
func (s *suite) plainStep(t *testing.T, in providers.StartInput) providers.Result {
	t.Helper()
	res, err := s.h.Provider.Start(context.Background(), in)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return res
}

// flow runs a whole Start flow (one step, or several through Continue) and returns the last
// step's input and result, with Submitted true when any step opened the attempt (in a
// multi-step flow the first step opens it and the later ones continue it). Every step must
// report a valid status; a step that asks to run an SDK must carry a token.
func (s *suite) flow(t *testing.T, in providers.StartInput, step stepFunc) (providers.StartInput, providers.Result) {
	t.Helper()
	submitted := false
	for i := 0; ; i++ {
		res := step(t, in)
		submitted = submitted || res.Submitted
		res.Submitted = submitted
		if !res.Status.Valid() || res.ProviderStatus == "" {
			t.Fatalf("Start step %d: got status %v, provider status %q; want a valid status and the raw value", i+1, res.Status, res.ProviderStatus)
		}
		if s.h.Continue == nil {
			return in, res
		}
		next, ok := s.h.Continue(t, in, res)
		if !ok {
			return in, res
		}
		if i >= 5 {
			t.Fatalf("Start flow did not complete in %d steps", i+1)
		}
		if res.Status.Terminal() {
			t.Fatalf("Start step %d: got terminal %v, yet the flow continues", i+1, res.Status)
		}
		if res.NextAction.Kind == providers.ActionRunSDK && res.NextAction.SDK.Token == "" {
			t.Errorf("Start step %d: ActionRunSDK without a token", i+1)
		}
		next.IdempotencyKey = newKey()
		in = next
	}
}

func (s *suite) capabilities(t *testing.T) {
	p := s.h.Provider
	if p.Name() == "" {
		t.Error("Name is empty")
	}
	_, hooks := p.(providers.WebhookReceiver)
	poller, polls := p.(providers.Poller)
	if !hooks && !polls {
		t.Error("provider is neither a WebhookReceiver nor a Poller: the gateway could never learn an outcome")
	}
	if polls && poller.PollInterval() <= 0 {
		t.Errorf("PollInterval: got %v, want > 0", poller.PollInterval())
	}
	if hooks && s.h.WebhookErrors == nil {
		t.Error("a WebhookReceiver's harness must set WebhookErrors")
	}
}

// start: a new subject is submitted, and the answer says so.
func (s *suite) start(t *testing.T) {
	t.Parallel()
	before := s.h.Submissions()
	_, res := s.flow(t, s.scenario(t, Passed), s.plainStep)
	if !res.Submitted {
		t.Errorf("Submitted: got false for a new subject, want true")
	}
	if res.Status == providers.StatusNotStarted {
		t.Errorf("status after a submission: got %v", res.Status)
	}
	if got := s.h.Submissions(); got <= before {
		t.Errorf("Submissions: got %d, want more than %d", got, before)
	}
}

// status: NOT_STARTED before, a live status after the start, PASSED after the outcome.
func (s *suite) status(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	in := s.scenario(t, Passed)
	res, err := s.h.Provider.Status(ctx, statusInput(in, providers.Result{}))
	if err != nil || res.Status != providers.StatusNotStarted {
		t.Errorf("Status before Start: got %v, %v; want NOT_STARTED", res.Status, err)
	}
	last, started := s.flow(t, in, s.plainStep)
	res, err = s.h.Provider.Status(ctx, statusInput(last, started))
	if err != nil || !res.Status.Valid() || res.Status == providers.StatusNotStarted || res.ProviderStatus == "" {
		t.Errorf("Status after Start: got %v %q, %v; want a started status", res.Status, res.ProviderStatus, err)
	}
	if res.Submitted {
		t.Errorf("Status: Submitted is true; only Start submits")
	}
	s.h.Await(t, last, providers.StatusPassed)
	res, err = s.h.Provider.Status(ctx, statusInput(last, started))
	if err != nil || res.Status != providers.StatusPassed {
		t.Errorf("Status after the outcome: got %v, %v; want PASSED", res.Status, err)
	}
}

// outcome: the verification ends in o, the result carries o's next action with its details,
// the status read agrees, and a retryable outcome can be retried.
func (s *suite) outcome(t *testing.T, o Outcome) {
	t.Parallel()
	in := s.scenario(t, o)
	last, started := s.flow(t, in, s.plainStep)
	res := s.h.Await(t, last, o.Status())
	checkOutcome(t, "awaited result", o, res, true)

	st, err := s.h.Provider.Status(context.Background(), statusInput(last, started))
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	checkOutcome(t, "Status", o, st, false)

	if o.Action() == providers.ActionRetry {
		before := s.h.Submissions()
		retry := in
		retry.Retry = true
		retry.IdempotencyKey = newKey()
		_, again := s.flow(t, retry, s.plainStep)
		if !again.Submitted || s.h.Submissions() <= before {
			t.Errorf("Start with retry after %s: got Submitted=%v, Submissions %d -> %d; want a new attempt",
				o, again.Submitted, before, s.h.Submissions())
		}
	}
}

// checkOutcome checks the status and next action of o. details asks for the action's details
// (document links, field names, attempts), which only pushed results are required to carry.
func checkOutcome(t *testing.T, what string, o Outcome, r providers.Result, details bool) {
	t.Helper()
	if r.Status != o.Status() {
		t.Fatalf("%s: got status %v (%q), want %v", what, r.Status, r.ProviderStatus, o.Status())
	}
	if r.ProviderStatus == "" {
		t.Errorf("%s: ProviderStatus is empty", what)
	}
	a := r.NextAction
	if a.Kind != o.Action() {
		t.Errorf("%s: got next action %v, want %v", what, a.Kind, o.Action())
	}
	if !details {
		return
	}
	switch o {
	case DocumentsRequired:
		if len(a.Documents) == 0 {
			t.Errorf("%s: no documents listed", what)
		}
		for _, d := range a.Documents {
			u, err := url.Parse(d.UploadLink)
			if d.Type == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				t.Errorf("%s: document %+v needs a type and an absolute upload link", what, d)
			}
		}
	case ReenterInformation:
		if len(a.Fields) == 0 {
			t.Errorf("%s: no fields to re-enter", what)
		}
		for _, f := range a.Fields {
			if strings.TrimSpace(f) == "" {
				t.Errorf("%s: empty field name in %q", what, a.Fields)
			}
		}
	case Resubmit:
		if a.AttemptsLeft == 0 || a.AttemptsLeft < -1 {
			t.Errorf("%s: AttemptsLeft %d, want > 0 (or -1 when unknown)", what, a.AttemptsLeft)
		}
	}
}

// unknownStatus: a value no mapping row names is an *UnknownStatusError naming the instance,
// never a guessed status.
func (s *suite) unknownStatus(t *testing.T) {
	t.Parallel()
	if s.h.ForceUnknown == nil {
		t.Skip("harness cannot feed an unknown status")
	}
	in, _ := s.firstOf(t, UnderReview, Passed)
	last, started := s.flow(t, in, s.plainStep)
	s.h.ForceUnknown(t, last)
	res, err := s.h.Provider.Status(context.Background(), statusInput(last, started))
	checkUnknown(t, "Status", s.h.Provider.Name(), err)
	if res.Status != providers.StatusUnspecified {
		t.Errorf("Status: got %v with the error; an unknown value must not be mapped", res.Status)
	}
	if s.h.WebhookErrors == nil {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, err := range s.h.WebhookErrors() {
			var ue *providers.UnknownStatusError
			if errors.As(err, &ue) && ue.Provider == s.h.Provider.Name() {
				checkUnknown(t, "ParseWebhook", s.h.Provider.Name(), err)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ParseWebhook error for the unknown event; got %v", s.h.WebhookErrors())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func checkUnknown(t *testing.T, what, name string, err error) {
	t.Helper()
	var ue *providers.UnknownStatusError
	if !errors.Is(err, providers.ErrUnknownStatus) || !errors.As(err, &ue) {
		t.Fatalf("%s: got %v, want an *UnknownStatusError", what, err)
	}
	if ue.Provider != name || ue.Value == "" {
		t.Errorf("%s: got provider %q value %q, want provider %q and the raw value", what, ue.Provider, ue.Value, name)
	}
}

// invalidInput: the caller's mistakes are *FieldError naming a gateway field, submit nothing
// and repeat no applicant data.
func (s *suite) invalidInput(t *testing.T) {
	if s.h.Invalid == nil {
		t.Skip("harness has no invalid inputs")
	}
	cases := s.h.Invalid(t)
	if len(cases) == 0 {
		t.Fatal("Invalid returned no cases")
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			before := s.h.Submissions()
			in := c.In
			in.IdempotencyKey = newKey()
			_, err := s.h.Provider.Start(context.Background(), in)
			var fe *providers.FieldError
			if !errors.As(err, &fe) || fe.Field != c.Field || fe.Reason == "" {
				t.Errorf("Start: got %v, want a *FieldError on %s", err, c.Field)
			}
			if err != nil {
				a := in.Applicant
				for _, pii := range []string{a.SSN, a.Phone, a.Email, a.IP} {
					if len(pii) >= 4 && strings.Contains(err.Error(), pii) {
						t.Errorf("Start error %q repeats applicant data", err)
					}
				}
			}
			if got := s.h.Submissions(); got != before {
				t.Errorf("Submissions: got %d, want %d (nothing submitted)", got, before)
			}
			if v, ok := s.h.Provider.(providers.Validator); ok {
				if err := v.ValidateStart(in); err != nil && (!errors.As(err, &fe) || fe.Field != c.Field) {
					t.Errorf("ValidateStart: got %v, want nil or a *FieldError on %s", err, c.Field)
				}
			}
		})
	}
}

// idempotentRetry: every step sent twice with the same idempotency key (one after the other,
// or at once) opens one attempt. Once the outcome is in, the same request again still opens
// none: the outcome is retryable when the provider has one, so only the key can stop it. Each
// repeat answers a reconciled result or the same outcome.
func (s *suite) idempotentRetry(t *testing.T, concurrent bool) {
	in, o := s.firstOf(t, Error, Expired, Failed, UnderReview, Passed)
	before := s.h.Submissions()
	twice := func(t *testing.T, in providers.StartInput) providers.Result {
		t.Helper()
		var res [2]providers.Result
		var errs [2]error
		if concurrent {
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() { res[i], errs[i] = s.h.Provider.Start(context.Background(), in) })
			}
			wg.Wait()
		} else {
			for i := range 2 {
				res[i], errs[i] = s.h.Provider.Start(context.Background(), in)
			}
		}
		first := -1
		for i, err := range errs {
			switch {
			case err == nil:
				if first < 0 {
					first = i
				}
			case errors.Is(err, providers.ErrAlreadyPassed) && o == Passed:
				// The outcome raced the repeat; still no second submission.
			default:
				t.Fatalf("Start %d of 2 with the same key: %v", i+1, err)
			}
		}
		if first < 0 {
			t.Fatalf("both Starts failed: %v", errs)
		}
		if errs[0] == nil && errs[1] == nil && res[0].Submitted && res[1].Submitted && res[0].Status != res[1].Status {
			t.Errorf("both Starts submitted, with different outcomes %v and %v", res[0].Status, res[1].Status)
		}
		return res[first]
	}
	last, res := s.flow(t, in, twice)
	if got := s.h.Submissions(); got != before+1 {
		t.Errorf("Submissions: got %d, want %d (one attempt for one key)", got, before+1)
	}

	s.h.Await(t, last, o.Status())
	again, err := s.h.Provider.Start(context.Background(), last)
	switch {
	case err == nil:
		if again.Submitted && again.Status != res.Status {
			t.Errorf("the same request after %s: answered as a new submission (%v)", o, again.Status)
		}
	case o == Passed && errors.Is(err, providers.ErrAlreadyPassed):
	default:
		t.Errorf("the same request after %s: %v", o, err)
	}
	if got := s.h.Submissions(); got != before+1 {
		t.Errorf("Submissions after the same request once %s: got %d, want %d", o, got, before+1)
	}
}

// alreadyPassed: once passed, a new Start (new key, with or without retry) is refused with an
// *AlreadyPassedError and submits nothing.
func (s *suite) alreadyPassed(t *testing.T) {
	in := s.scenario(t, Passed)
	last, _ := s.flow(t, in, s.plainStep)
	s.h.Await(t, last, providers.StatusPassed)
	before := s.h.Submissions()
	for _, retry := range []bool{false, true} {
		again := in
		again.Retry = retry
		again.IdempotencyKey = newKey()
		_, err := s.h.Provider.Start(context.Background(), again)
		var ap *providers.AlreadyPassedError
		if !errors.As(err, &ap) || !errors.Is(err, providers.ErrAlreadyPassed) {
			t.Errorf("Start after PASSED (retry=%v): got %v, want *AlreadyPassedError", retry, err)
		}
	}
	if got := s.h.Submissions(); got != before {
		t.Errorf("Submissions: got %d, want %d", got, before)
	}
}

// unavailable: with the fault c in force, Start and Status fail with ErrUnavailable and
// nothing is submitted.
func (s *suite) unavailable(t *testing.T, c faults.Config) {
	s.setFaults(t, faults.Config{})
	in := s.scenario(t, Passed)
	s.setFaults(t, c)
	before := s.h.Submissions()
	if _, err := s.h.Provider.Start(context.Background(), in); !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("Start: got %v, want ErrUnavailable", err)
	}
	if _, err := s.h.Provider.Status(context.Background(), statusInput(in, providers.Result{})); !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("Status: got %v, want ErrUnavailable", err)
	}
	if got := s.h.Submissions(); got != before {
		t.Errorf("Submissions: got %d, want %d", got, before)
	}
}

// cancelDuringLatency: a cancelled or expired context ends a slow call promptly.
func (s *suite) cancelDuringLatency(t *testing.T) {
	in := s.scenario(t, Passed)
	s.setFaults(t, faults.Config{Latency: faultLatency})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	timer := time.AfterFunc(cancelAfter, cancel)
	defer timer.Stop()
	began := time.Now()
	_, err := s.h.Provider.Start(ctx, in)
	took := time.Since(began)
	if err == nil || !errors.Is(err, context.Canceled) && !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("Start cancelled: got %v, want context.Canceled or ErrUnavailable", err)
	}
	if took > cancelAfter+cancelWithin {
		t.Errorf("Start cancelled after %v returned after %v", cancelAfter, took)
	}

	dctx, dcancel := context.WithTimeout(context.Background(), cancelAfter)
	defer dcancel()
	began = time.Now()
	_, err = s.h.Provider.Status(dctx, statusInput(in, providers.Result{}))
	took = time.Since(began)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, providers.ErrUnavailable) {
		t.Errorf("Status past its deadline: got %v, want context.DeadlineExceeded or ErrUnavailable", err)
	}
	if took > cancelAfter+cancelWithin {
		t.Errorf("Status with a %v deadline returned after %v", cancelAfter, took)
	}
}

// recovers: with the faults off again the provider works.
func (s *suite) recovers(t *testing.T) {
	s.setFaults(t, faults.Config{})
	if _, res := s.flow(t, s.scenario(t, Passed), s.plainStep); !res.Submitted {
		t.Errorf("Start after the faults: Submitted is false")
	}
}

// setFaults sets c and switches every fault off when the test ends.
func (s *suite) setFaults(t *testing.T, c faults.Config) {
	t.Helper()
	if err := s.h.Faults.Set(c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.h.Faults.Set(faults.Config{}); err != nil {
			t.Error(err)
		}
	})
}

// webhooksVerified: every delivery the test receiver got verified and parsed, apart from the
// unknown events ForceUnknown asked for.
func (s *suite) webhooksVerified(t *testing.T) {
	if s.h.WebhookErrors == nil {
		t.Skip("provider has no webhooks")
	}
	for _, err := range s.h.WebhookErrors() {
		if !errors.Is(err, providers.ErrUnknownStatus) {
			t.Errorf("ParseWebhook refused a delivery: %v", err)
		}
	}
}
