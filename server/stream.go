package server

import (
	"errors"

	kycv1 "github.com/kycgw/kycgw/gen/kyc/v1"
	"github.com/kycgw/kycgw/internal/apiconv"
	"github.com/kycgw/kycgw/internal/events"
	"github.com/kycgw/kycgw/internal/store"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// replayPage is how many events one store read of a replay takes.
const replayPage = 512

// StreamEvents implements kyc.v1.KycService.
//
// The seam between replay and live delivery: the stream subscribes to the hub first, then
// replays from the store until it is caught up, then takes live events from its queue,
// skipping any it already replayed. An event dispatched before the subscription was appended
// before the replay began, so the replay has it; one dispatched after is in the queue. Hence no
// gap, and comparing ids removes the overlap.
func (s *service) StreamEvents(req *kycv1.StreamEventsRequest, stream grpc.ServerStreamingServer[kycv1.StreamEventsResponse]) error {
	ctx := stream.Context()
	tenant := tenantOf(ctx)
	filter := events.Filter{
		Tenant:         tenant.Name,
		VerificationID: req.GetVerificationId(),
		Provider:       req.GetProvider(),
		ProgramID:      req.GetProgramId(),
	}
	var vs []fieldViolation
	for _, st := range req.GetStatuses() {
		d := apiconv.FromStatus(st)
		if !d.Valid() {
			vs = append(vs, fieldViolation{"statuses", "unknown status " + st.String()})
			continue
		}
		filter.Statuses = append(filter.Statuses, d)
	}
	if id := req.GetVerificationId(); id != "" {
		vs = append(vs, validateVerificationID(id)...)
	}
	var pos store.EventID // the last event id this stream has read past
	cursor := req.GetAfterEventId()
	if cursor != "" {
		id, err := store.ParseEventID(cursor)
		if err != nil {
			vs = append(vs, fieldViolation{"after_event_id", `must be "0" or an event_id`})
		}
		pos = id
	}
	if len(vs) > 0 {
		return invalidFields(vs...)
	}

	if !s.streams.acquire(tenant) {
		return apiError(codes.ResourceExhausted, ReasonTooManyStreams,
			"too many open event streams for this API key's tenant; close one first", nil)
	}
	defer s.streams.release(tenant)
	sub := s.hub.Subscribe(filter)
	defer sub.Close()
	send := func(it *events.Item) error {
		if _, err := it.Wire(); err != nil {
			s.log.Error("encoding event", "event_id", it.ID.String(), "err", err)
			return status.Error(codes.Internal, "encoding event")
		}
		return stream.SendMsg(it) // the codec sends the item's encoding (codec.go)
	}

	if cursor != "" {
		for {
			evs, err := s.store.ReadEvents(ctx, pos.String(), replayPage, 0)
			switch {
			case errors.Is(err, store.ErrCursorExpired):
				return apiError(codes.OutOfRange, ReasonCursorExpired,
					`after_event_id: older than the retained events; resume from "0" and reconcile with GetStatus`, nil)
			case err != nil:
				return storeError(err)
			}
			for _, e := range evs {
				it, err := events.NewItem(e)
				if err != nil {
					continue
				}
				pos = it.ID
				if !filter.Match(it) {
					continue
				}
				if err := send(it); err != nil {
					return err
				}
			}
			if len(evs) < replayPage {
				break
			}
		}
	}

	// Done walks the context chain (request id, tenant, metadata...) on every call: take it
	// once, not once per event and stream.
	done := ctx.Done()
	for {
		select {
		case it, ok := <-sub.C:
			if !ok {
				return s.streamEnded(sub.Err(), pos)
			}
			if !pos.Less(it.ID) {
				continue // already replayed
			}
			pos = it.ID
			if err := send(it); err != nil {
				return err
			}
		case <-done:
			if err, ok := contextError(ctx.Err()); ok {
				return err
			}
			return ctx.Err()
		}
	}
}

// streamEnded reports why the hub ended a stream, with the id to resume from.
func (s *service) streamEnded(err error, pos store.EventID) error {
	s.cfg.Metrics.StreamDropped(err)
	md := map[string]string{}
	if pos != (store.EventID{}) {
		md["last_event_id"] = pos.String()
	}
	switch {
	case errors.Is(err, events.ErrSlow):
		return apiError(codes.ResourceExhausted, ReasonSubscriberTooSlow,
			"stream fell behind and was ended; resume from last_event_id", md)
	case errors.Is(err, events.ErrStopped):
		return apiError(codes.Unavailable, ReasonShuttingDown,
			"server shutting down; resume from last_event_id on another connection", md)
	}
	return apiError(codes.Unavailable, ReasonStoreUnavailable,
		"event delivery interrupted; resume from last_event_id", md)
}
