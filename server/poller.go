package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	mrand "math/rand/v2"
	"sync"
	"time"

	"github.com/kycgw/kycgw/internal/metrics"
	"github.com/kycgw/kycgw/internal/store"
	"github.com/kycgw/kycgw/providers"
)

// maxPollInterval caps the backoff between polls of a verification that does not change.
const maxPollInterval = 5 * time.Minute

// pollData is what a poll job keeps between polls, sealed in the store.
type pollData struct {
	Session providers.Session `json:"session"`
}

// schedulePoll keeps (or replaces) the poll job of a verification at a provider without
// webhooks, with the user's session sealed. A final verification needs no polls.
func (s *service) schedulePoll(ctx context.Context, p providers.Provider, v store.Verification, in providers.StartInput, res providers.Result) error {
	if v.Status.Terminal() || in.CloudPayments == nil {
		return nil
	}
	data := pollData{Session: in.CloudPayments.Session}
	if res.Session != nil {
		data.Session = *res.Session
	}
	sealed, err := s.sealPoll(v.ID, data)
	if err != nil {
		return err
	}
	return s.store.SchedulePoll(ctx, store.PollJob{
		VerificationID: v.ID,
		Due:            s.cfg.Now().Add(p.(providers.Poller).PollInterval()),
		Data:           sealed,
	})
}

func (s *service) sealPoll(vid string, d pollData) ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	return s.sealer.Seal(b, []byte("poll:"+vid)), nil
}

func (s *service) openPoll(vid string, sealed []byte) (pollData, error) {
	var d pollData
	b, err := s.sealer.Open(sealed, []byte("poll:"+vid))
	if err != nil {
		return d, err
	}
	return d, json.Unmarshal(b, &d)
}

// poller polls providers without webhooks. Each replica runs one; the store's lease on each job
// makes sure a verification is polled by one replica at a time, and by another when its
// replica dies.
type poller struct {
	s     *service
	owner string
}

func newPoller(s *service) *poller {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &poller{s: s, owner: "poller-" + hex.EncodeToString(b[:])}
}

// run polls until ctx is done; it returns after in-flight polls finish.
func (p *poller) run(ctx context.Context) {
	t := time.NewTicker(p.s.cfg.PollEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.once(ctx)
		}
	}
}

// once claims the due jobs and polls them, a few at a time.
func (p *poller) once(ctx context.Context) {
	lease := 2 * p.s.cfg.ProviderTimeout
	jobs, err := p.s.store.ClaimPolls(ctx, p.owner, p.s.cfg.Now(), lease, p.s.cfg.PollBatch)
	if err != nil {
		if ctx.Err() == nil {
			p.s.log.Warn("claiming poll jobs", "err", err)
		}
		return
	}
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, job := range jobs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p.poll(ctx, job)
		})
	}
	wg.Wait()
}

// poll reads one verification's status from its provider and applies it like a webhook.
func (p *poller) poll(ctx context.Context, job store.PollJob) {
	s := p.s
	log := s.log.With("verification_id", job.VerificationID)
	finish := func(done bool) {
		if err := s.store.FinishPoll(context.WithoutCancel(ctx), p.owner, job, done); err != nil && !errors.Is(err, store.ErrNotOwner) {
			log.Warn("finishing poll job", "err", err)
		}
	}
	v, err := s.store.Get(ctx, job.VerificationID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		finish(true)
		return
	case err != nil:
		p.retryLater(&job, finish)
		return
	case v.Status.Terminal():
		finish(true) // final: the session is dropped with the job
		return
	}
	prov, err := s.providers.Get(v.Provider)
	poller, ok := prov.(providers.Poller)
	if err != nil || !ok {
		log.Warn("poll job for a provider that is not polled; dropped", "provider", v.Provider)
		finish(true)
		return
	}
	data, err := s.openPoll(job.VerificationID, job.Data)
	if err != nil {
		log.Error("poll job data cannot be opened (secret key changed?); dropped", "err", err)
		finish(true)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.ProviderTimeout)
	res, err := s.providerStatus(pctx, prov, metrics.OpPoll, providers.StatusInput{ProgramID: v.ProgramID, Subject: v.Subject, Session: &data.Session})
	cancel()
	var fe *providers.FieldError
	switch {
	case errors.As(err, &fe):
		// The session is gone (expired and not refreshable): nothing more can be read until the
		// user signs in and starts again.
		log.Warn("polling stopped: the provider refused the user's session", "provider", v.Provider, "reason", fe.Reason)
		finish(true)
		return
	case err != nil:
		log.Warn("polling provider", "provider", v.Provider, "err", err, "failures", job.Failures+1)
		p.retryLater(&job, finish)
		return
	}
	applied, err := s.store.Apply(ctx, store.Update{
		VerificationID: v.ID,
		Result:         withoutSDKToken(res),
		Source:         store.SourcePoll,
		ProviderEvent:  res.ProviderStatus,
		ReceivedAt:     s.cfg.Now(),
	})
	if err != nil {
		p.retryLater(&job, finish)
		return
	}
	if applied.Verification.Status.Terminal() {
		log.Info("polling done", "status", applied.Verification.Status.String())
		finish(true)
		return
	}
	if res.Session != nil {
		data.Session = *res.Session
		if job.Data, err = s.sealPoll(v.ID, data); err != nil {
			p.retryLater(&job, finish)
			return
		}
	}
	if applied.Event != nil {
		log.Info("poll observed a change", "status", applied.Verification.Status.String())
		job.Failures = 0 // a change resets the backoff: more may follow soon
	} else {
		job.Failures++
	}
	job.Due = s.cfg.Now().Add(backoff(poller.PollInterval(), job.Failures))
	finish(false)
}

func (p *poller) retryLater(job *store.PollJob, finish func(bool)) {
	job.Failures++
	job.Due = p.s.cfg.Now().Add(backoff(p.s.cfg.PollEvery*4, job.Failures))
	finish(false)
}

// backoff is base doubled per unproductive poll, capped, with ±20% jitter so replicas and jobs
// do not synchronise.
func backoff(base time.Duration, n int) time.Duration {
	d := base
	for i := 0; i < n && d < maxPollInterval; i++ {
		d *= 2
	}
	d = min(d, maxPollInterval)
	return time.Duration(float64(d) * (0.8 + 0.4*mrand.Float64()))
}
