package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/apiconv"
	"github.com/kycgw/kycgw/internal/events"
	"github.com/kycgw/kycgw/internal/seal"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// service implements kyc.v1.KycService.
type service struct {
	kycv1.UnimplementedKycServiceServer

	cfg       Config
	store     store.Store
	providers *providers.Registry
	hub       *events.Hub
	log       *slog.Logger

	fingerprints *fingerprinter
	sealer       *seal.Sealer
	streams      *streamLimiter
	forgeries    *forgeryLimiter
}

// Start implements kyc.v1.KycService.
func (s *service) Start(ctx context.Context, req *kycv1.StartRequest) (*kycv1.StartResponse, error) {
	key, err := idempotencyKeyOf(ctx, req)
	if err != nil {
		return nil, err
	}
	if vs := validateStart(req); len(vs) > 0 {
		return nil, invalidFields(vs...)
	}
	tenant := tenantOf(ctx)
	p, err := s.providers.Get(req.GetProvider())
	if err != nil {
		// Only the providers this tenant may use are named: others' are none of its business.
		var usable []string
		for _, n := range s.providers.Names() {
			if tenant.allowsProvider(n) {
				usable = append(usable, n)
			}
		}
		return nil, apiError(codes.InvalidArgument, ReasonUnknownProvider,
			fmt.Sprintf("provider: unknown provider %q (configured: %s)", req.GetProvider(), strings.Join(usable, ", ")),
			map[string]string{"configured": strings.Join(usable, ",")})
	}
	if !tenant.allowsProvider(p.Name()) {
		return nil, apiError(codes.PermissionDenied, ReasonProviderNotAllowed,
			"provider: this API key may not use provider "+p.Name(), nil)
	}
	if !tenant.allowsProgram(req.GetProgramId()) {
		return nil, apiError(codes.PermissionDenied, ReasonProgramNotAllowed,
			"program_id: this API key may not verify for this program", nil)
	}
	in := providers.StartInput{
		ProgramID: req.GetProgramId(),
		Subject:   apiconv.FromSubject(req.GetSubject()),
		Retry:     req.GetRetry(),
		Applicant: providers.Applicant{
			SSN:              req.GetApplicant().GetSsn(),
			Phone:            req.GetApplicant().GetPhone(),
			PhoneCountryCode: req.GetApplicant().GetPhoneCountryCode(),
			Email:            req.GetApplicant().GetEmail(),
			IP:               req.GetApplicant().GetIp(),
		},
	}
	if cp := req.GetCloudpayments(); cp != nil {
		in.CloudPayments = &providers.CloudPaymentsInput{
			Session:    providers.Session{AccessToken: cp.GetAccessToken(), RefreshToken: cp.GetRefreshToken()},
			DeviceID:   cp.GetDeviceId(),
			AccountID:  cp.GetAccountId(),
			WorkflowID: cp.GetWorkflowId(),
		}
	}
	if v, ok := p.(providers.Validator); ok {
		if err := v.ValidateStart(in); err != nil {
			return nil, providerInputError(err)
		}
	}
	in.IdempotencyKey = providerIdempotencyKey(tenant.Name, key)
	vid := verificationID(tenant.Name, p.Name(), in.ProgramID, in.Subject)
	if key == "" {
		_, cur, err := s.store.ClaimAndGet(ctx, "", "", 0, vid)
		if err != nil {
			return nil, storeError(err)
		}
		return s.start(ctx, tenant.Name, p, in, vid, cur, nil)
	}

	fp, err := s.fingerprints.fingerprint(req)
	if err != nil {
		return nil, status.Error(codes.Internal, "fingerprinting request")
	}
	scope := idempotencyScope(tenant.Name, key)
	claim, cur, err := s.store.ClaimAndGet(ctx, scope, fp, s.cfg.IdempotencyLease, vid)
	if err != nil {
		return nil, storeError(err)
	}
	s.cfg.Metrics.IdempotencyClaim(claim.State)
	switch claim.State {
	case store.Replay:
		plain, err := s.sealer.Open(claim.Response, []byte(scope))
		var resp *kycv1.StartResponse
		var rpcErr error
		if err == nil {
			resp, rpcErr, err = decodeOutcome(plain)
		}
		if err != nil {
			s.log.Error("idempotency record unreadable", "err", err)
			return nil, status.Error(codes.Internal, "stored idempotency record is unreadable")
		}
		return resp, rpcErr
	case store.InFlight:
		return nil, apiError(codes.Aborted, ReasonIdempotencyKeyInFlight,
			"a request with this idempotency key is still in progress; retry shortly", nil)
	case store.Mismatch:
		return nil, apiError(codes.AlreadyExists, ReasonIdempotencyKeyReused,
			"idempotency_key: already used with a different request", nil)
	}

	// The provider call runs to completion even if the caller goes away: its outcome is
	// recorded for the retry that will come with the same key.
	ctx = context.WithoutCancel(ctx)
	idem := &idemClaim{scope: scope, owner: claim.Owner}
	resp, rpcErr := s.start(ctx, tenant.Name, p, in, vid, cur, idem)
	switch {
	case idem.completed:
		return resp, rpcErr
	case !replayable(rpcErr):
		if err := s.store.Release(ctx, scope, claim.Owner); err != nil {
			s.log.Warn("releasing idempotency claim", "err", err)
		}
		return resp, rpcErr
	}
	out, err := s.sealOutcome(scope, resp, rpcErr)
	if err != nil {
		return nil, status.Error(codes.Internal, "encoding idempotency record")
	}
	if err := s.store.Complete(ctx, scope, claim.Owner, out, s.cfg.IdempotencyRetention); err != nil {
		s.outcomeNotStored(err)
	}
	return resp, rpcErr
}

// idemClaim is the idempotency claim a Start holds while it runs. When the outcome is a
// success, start stores it with the verification in one write and sets completed.
type idemClaim struct {
	scope, owner string
	completed    bool
}

// outcomeNotStored logs that an outcome could not be stored for replay. The outcome stands;
// only its replay is lost. A retry re-runs Start, and the provider's own idempotency key
// stops a second submission.
func (s *service) outcomeNotStored(err error) {
	s.log.Warn("storing idempotency outcome", "err", err)
}

// sealOutcome encodes an outcome for the idempotency record, sealed: a stored response may
// carry an SDK token, and the store must not hold it readable.
func (s *service) sealOutcome(scope string, resp *kycv1.StartResponse, rpcErr error) ([]byte, error) {
	out, err := encodeOutcome(resp, rpcErr)
	if err != nil {
		return nil, err
	}
	return s.sealer.Seal(out, []byte(scope)), nil
}

// replayable reports whether an outcome is final for its request, so a retry with the same
// key must see it again. Transient failures (unavailable provider or store, cancellation,
// internal errors) are not stored: the retry runs again.
func replayable(err error) bool {
	if err == nil {
		return true
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.NotFound:
		return true
	}
	return false
}

// start runs one Start against the provider and records the outcome. cur is verification
// vid as read before the call. With idem, a success is recorded together with the claim's
// outcome (idem.completed), unless status polls must be scheduled first.
func (s *service) start(ctx context.Context, tenant string, p providers.Provider, in providers.StartInput, vid string, cur store.Snapshot, idem *idemClaim) (*kycv1.StartResponse, error) {
	if v, found := cur.Verification(); found && v.Status == providers.StatusPassed {
		return nil, alreadyPassed(v.PassedAt)
	}

	pctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
	res, err := s.providerStart(pctx, p, in)
	cancel()
	now := s.cfg.Now()
	update := store.Update{
		VerificationID: vid, Tenant: tenant, Provider: p.Name(), ProgramID: in.ProgramID,
		Subject: in.Subject, Source: store.SourceStart, ReceivedAt: now, Read: cur,
	}
	var passed *providers.AlreadyPassedError
	switch {
	case errors.As(err, &passed):
		// The provider knows better than our records: keep that it passed, then refuse.
		update.Result = providers.Result{Status: providers.StatusPassed, ProviderStatus: "already_passed", PassedAt: passed.PassedAt}
		if _, err := s.store.Apply(ctx, update); err != nil {
			s.log.Warn("recording an already passed verification", "verification_id", vid, "err", err)
		}
		return nil, alreadyPassed(passed.PassedAt)
	case err != nil:
		s.log.Warn("provider start failed", "provider", p.Name(), "verification_id", vid, "err", err)
		return nil, providerError(err)
	}
	// The SDK token goes to this caller only: state and events, which the store keeps and
	// streams share, get the action without it.
	update.Result = withoutSDKToken(res)
	update.NewAttempt = res.Submitted
	update.ProviderEvent = res.ProviderStatus
	_, polled := p.(providers.Poller)
	if idem != nil && !polled {
		// Polls must be scheduled before the outcome is replayable, so only a provider
		// that is not polled has its outcome stored with the verification.
		update.Complete = &store.Completion{
			Key: idem.scope, Owner: idem.owner, Retain: s.cfg.IdempotencyRetention,
			Response: func(v store.Verification) ([]byte, error) {
				return s.sealOutcome(idem.scope, startResponse(v, res), nil)
			},
		}
	}
	applied, err := s.store.Apply(ctx, update)
	if err != nil {
		// The provider has the submission; a retry with the same key reconciles through the
		// provider's idempotency instead of submitting again.
		s.log.Error("recording start outcome", "verification_id", vid, "err", err)
		return nil, storeError(err)
	}
	if update.Complete != nil {
		idem.completed = true
		if applied.NotOwner {
			s.outcomeNotStored(store.ErrNotOwner)
		}
	}
	if polled {
		if err := s.schedulePoll(ctx, p, applied.Verification, in, res); err != nil {
			s.log.Error("scheduling status polls", "verification_id", vid, "err", err)
			return nil, storeError(err)
		}
	}
	s.log.Info("verification started", "provider", p.Name(), "verification_id", vid,
		"status", applied.Verification.Status.String(), "attempt", applied.Verification.Attempt)
	return startResponse(applied.Verification, res), nil
}

// startResponse is a successful Start's response: the verification, with the provider's next
// action in full (the SDK token included) for this caller.
func startResponse(v store.Verification, res providers.Result) *kycv1.StartResponse {
	out := apiconv.Verification(v)
	if res.NextAction.Kind == providers.ActionRunSDK {
		out.NextAction = apiconv.NextAction(res.NextAction)
	}
	return &kycv1.StartResponse{Verification: out}
}

func withoutSDKToken(r providers.Result) providers.Result {
	r.NextAction.SDK.Token = ""
	return r
}

func alreadyPassed(at time.Time) error {
	md := map[string]string{}
	msg := "kyc already passed; no further attempts are allowed"
	if !at.IsZero() {
		md["passed_at"] = at.UTC().Format(time.RFC3339Nano)
		msg += " (passed at " + md["passed_at"] + ")"
	}
	return apiError(codes.FailedPrecondition, ReasonAlreadyPassed, msg, md)
}

// providerInputError maps an adapter's verdict on the caller's input.
func providerInputError(err error) error {
	var fe *providers.FieldError
	if errors.As(err, &fe) {
		return invalidFields(fieldViolation{fe.Field, fe.Reason})
	}
	return apiError(codes.InvalidArgument, ReasonInvalidField, "invalid request for this provider", nil)
}

// providerError maps a failed provider call. Only the caller's own input becomes
// INVALID_ARGUMENT; a provider refusing our request is our INTERNAL problem.
func providerError(err error) error {
	if s, ok := contextError(err); ok && !errors.Is(err, providers.ErrUnavailable) {
		return s
	}
	var fe *providers.FieldError
	switch {
	case errors.As(err, &fe):
		return providerInputError(err)
	case errors.Is(err, providers.ErrSubjectNotFound):
		return apiError(codes.NotFound, ReasonSubjectNotFound, "subject: not found at the provider", nil)
	case errors.Is(err, providers.ErrUnavailable):
		return apiError(codes.Unavailable, ReasonProviderUnavailable, "provider unavailable; retry later", nil)
	case errors.Is(err, providers.ErrUnknownStatus):
		return apiError(codes.Internal, ReasonUnknownProviderStatus, "provider returned a status the gateway does not know", nil)
	}
	return apiError(codes.Internal, ReasonProviderError, "provider refused the request", nil)
}

// GetStatus implements kyc.v1.KycService.
func (s *service) GetStatus(ctx context.Context, req *kycv1.GetStatusRequest) (*kycv1.GetStatusResponse, error) {
	if vs := validateVerificationID(req.GetVerificationId()); len(vs) > 0 {
		return nil, invalidFields(vs...)
	}
	v, err := s.store.Get(ctx, req.GetVerificationId())
	switch {
	case errors.Is(err, store.ErrNotFound) || (err == nil && v.Tenant != tenantOf(ctx).Name):
		// Another tenant's verification is indistinguishable from a missing one.
		return nil, apiError(codes.NotFound, ReasonVerificationNotFound, "verification_id: no such verification", nil)
	case err != nil:
		return nil, storeError(err)
	}
	return &kycv1.GetStatusResponse{Verification: apiconv.Verification(v)}, nil
}

// idempotencyKeyOf returns the request's idempotency key from the body, the
// idempotency-key metadata (the REST gateway maps the Idempotency-Key header to it), or both
// when they agree.
func idempotencyKeyOf(ctx context.Context, req *kycv1.StartRequest) (string, error) {
	key := req.GetIdempotencyKey()
	for _, v := range metadata.ValueFromIncomingContext(ctx, "idempotency-key") {
		switch {
		case key == "":
			key = v
		case v != key:
			return "", invalidFields(fieldViolation{"idempotency_key", "differs from the Idempotency-Key header"})
		}
	}
	if key != "" {
		if why := checkIdempotencyKey(key); why != "" {
			return "", invalidFields(fieldViolation{"idempotency_key", why})
		}
	}
	return key, nil
}
