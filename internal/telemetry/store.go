package telemetry

import (
	"context"
	"errors"
	"time"

	"github.com/kycgw/kycgw/internal/store"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Store wraps st so that each call made within a traced request is a span ("store.ClaimAndGet",
// "store.Apply", ...). Calls outside a trace (the event reader, the poller's schedule) make no
// span: they run all the time and would drown the traces in roots of one span each. With
// tracing off it returns st itself.
func (t *Tracing) Store(st store.Store) store.Store {
	if t == nil {
		return st
	}
	return &tracedStore{Store: st, tracer: t.tp.Tracer(tracerName)}
}

type tracedStore struct {
	store.Store
	tracer trace.Tracer
}

// start begins a span for op when ctx is in a trace; end is then to be called with the result.
func (s *tracedStore) start(ctx context.Context, op string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, nil
	}
	return s.tracer.Start(ctx, "store."+op, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(append(attrs, attribute.String("db.operation.name", op))...))
}

// end closes span. Only the error's class is recorded: store errors can quote keys, and keys
// can hold subject ids.
func end(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		span.SetStatus(codes.Error, errClass(err))
	}
	span.End()
}

func errClass(err error) string {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return "store unavailable"
	case errors.Is(err, store.ErrNotOwner):
		return "not owner"
	case errors.Is(err, store.ErrCursorExpired), errors.Is(err, store.ErrBadCursor):
		return "bad cursor"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "context ended"
	}
	return "store error"
}

func (s *tracedStore) ClaimAndGet(ctx context.Context, key, fingerprint string, lease time.Duration, verificationID string) (store.Claim, store.Snapshot, error) {
	ctx, span := s.start(ctx, "ClaimAndGet", AttrVerificationID.String(verificationID))
	c, snap, err := s.Store.ClaimAndGet(ctx, key, fingerprint, lease, verificationID)
	if span != nil && err == nil {
		_, found := snap.Verification()
		span.SetAttributes(attribute.Int("kycgw.claim_state", int(c.State)), attribute.Bool("kycgw.found", found))
	}
	end(span, err)
	return c, snap, err
}

func (s *tracedStore) Complete(ctx context.Context, key, owner string, response []byte, retain time.Duration) error {
	ctx, span := s.start(ctx, "Complete")
	err := s.Store.Complete(ctx, key, owner, response, retain)
	end(span, err)
	return err
}

func (s *tracedStore) Release(ctx context.Context, key, owner string) error {
	ctx, span := s.start(ctx, "Release")
	err := s.Store.Release(ctx, key, owner)
	end(span, err)
	return err
}

func (s *tracedStore) Get(ctx context.Context, verificationID string) (store.Verification, error) {
	ctx, span := s.start(ctx, "Get", AttrVerificationID.String(verificationID))
	v, err := s.Store.Get(ctx, verificationID)
	end(span, err)
	return v, err
}

func (s *tracedStore) Lookup(ctx context.Context, provider, subjectKey string) (string, error) {
	ctx, span := s.start(ctx, "Lookup", AttrProvider.String(provider))
	id, err := s.Store.Lookup(ctx, provider, subjectKey)
	end(span, err)
	return id, err
}

func (s *tracedStore) Apply(ctx context.Context, u store.Update) (store.Applied, error) {
	ctx, span := s.start(ctx, "Apply", AttrVerificationID.String(u.VerificationID))
	a, err := s.Store.Apply(ctx, u)
	if span != nil && err == nil {
		span.SetAttributes(attribute.String("kycgw.status", a.Verification.Status.String()),
			attribute.Bool("kycgw.duplicate", a.Duplicate), attribute.Bool("kycgw.stale", a.Stale),
			attribute.Bool("kycgw.completes_claim", u.Complete != nil))
	}
	end(span, err)
	return a, err
}

func (s *tracedStore) ReadEvents(ctx context.Context, after string, limit int, block time.Duration) ([]store.Event, error) {
	ctx, span := s.start(ctx, "ReadEvents")
	evs, err := s.Store.ReadEvents(ctx, after, limit, block)
	end(span, err)
	return evs, err
}

func (s *tracedStore) LastEventID(ctx context.Context) (string, error) {
	ctx, span := s.start(ctx, "LastEventID")
	id, err := s.Store.LastEventID(ctx)
	end(span, err)
	return id, err
}

func (s *tracedStore) SchedulePoll(ctx context.Context, job store.PollJob) error {
	ctx, span := s.start(ctx, "SchedulePoll", AttrVerificationID.String(job.VerificationID))
	err := s.Store.SchedulePoll(ctx, job)
	end(span, err)
	return err
}

func (s *tracedStore) ClaimPolls(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.PollJob, error) {
	ctx, span := s.start(ctx, "ClaimPolls")
	jobs, err := s.Store.ClaimPolls(ctx, owner, now, lease, limit)
	end(span, err)
	return jobs, err
}

func (s *tracedStore) FinishPoll(ctx context.Context, owner string, job store.PollJob, done bool) error {
	ctx, span := s.start(ctx, "FinishPoll", AttrVerificationID.String(job.VerificationID))
	err := s.Store.FinishPoll(ctx, owner, job, done)
	end(span, err)
	return err
}

func (s *tracedStore) Ping(ctx context.Context) error {
	ctx, span := s.start(ctx, "Ping")
	err := s.Store.Ping(ctx)
	end(span, err)
	return err
}
