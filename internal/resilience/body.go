package resilience

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// MaxReplayBody is the largest request body a retry can resend when the request has no
// GetBody: a larger one is streamed once and its request is not retried. Provider requests
// are a few hundred bytes.
const MaxReplayBody = 1 << 20

// replay hands each attempt a fresh copy of the request body.
type replay struct {
	orig     io.ReadCloser                 // req.Body, for the first attempt that is sent
	getBody  func() (io.ReadCloser, error) // req.GetBody, for later attempts
	buf      []byte                        // the body read ahead, when there is no GetBody
	buffered bool
	origSent bool
	oneShot  bool // the body cannot be replayed
}

// newReplay prepares req's body for up to one attempt, or for several when retry is set.
func newReplay(req *http.Request, retry bool) (*replay, error) {
	b := &replay{orig: req.Body}
	switch {
	case req.Body == nil || req.Body == http.NoBody:
		// Nothing to replay: every attempt sends the same (absent) body.
	case !retry:
		b.oneShot = true
	case req.GetBody != nil:
		b.getBody = req.GetBody
	default:
		data, err := io.ReadAll(io.LimitReader(req.Body, MaxReplayBody+1))
		if err != nil {
			_ = req.Body.Close()
			b.origSent = true // closed
			return b, fmt.Errorf("read request body: %w", err)
		}
		if len(data) > MaxReplayBody {
			// Too large to keep: send what was read and the rest, once.
			b.orig = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(data), req.Body), req.Body}
			b.oneShot = true
			break
		}
		_ = req.Body.Close()
		b.buf, b.buffered, b.orig = data, true, nil
	}
	return b, nil
}

// replayable reports whether next can give more than one attempt a body.
func (b *replay) replayable() bool { return !b.oneShot }

// next returns the body of the next attempt.
func (b *replay) next() (io.ReadCloser, error) {
	switch {
	case b.buffered:
		return io.NopCloser(bytes.NewReader(b.buf)), nil
	case b.orig == nil || b.orig == http.NoBody:
		return b.orig, nil
	case !b.origSent:
		b.origSent = true
		return b.orig, nil
	case b.getBody != nil:
		return b.getBody()
	}
	return nil, errors.New("request body already sent")
}

// close closes the original body if no attempt took it: RoundTrip must close it in any case.
func (b *replay) close() {
	if b.orig != nil && b.orig != http.NoBody && !b.origSent {
		b.origSent = true
		_ = b.orig.Close()
	}
}
