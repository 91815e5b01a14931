package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/kycgw/kycgw/providers"
)

// The Redis store keeps verifications and events in a compact binary form: decoding them as
// JSON was most of a Redis GetStatus's CPU (encoding/json, mostly its time parsing). A value
// starts with a version byte; a value starting with '{' is the JSON form earlier versions
// wrote, still read.
//
// Fields are written in declaration order: strings and byte counts as uvarints followed by
// the bytes, integers as varints, times as a presence byte, then Unix seconds and nanoseconds.
// Adding a field means a new version byte.
const codecV1 = 1

var errCodec = errors.New("malformed stored value")

type encoder struct{ b []byte }

func (e *encoder) str(s string) {
	e.b = binary.AppendUvarint(e.b, uint64(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) int(v int64) { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.b = binary.AppendVarint(e.b, t.Unix())
	e.b = binary.AppendUvarint(e.b, uint64(t.Nanosecond()))
}
func (e *encoder) subject(s providers.Subject) {
	e.str(s.CustomerID)
	e.str(s.BusinessID)
	e.str(s.BeneficialOwnerID)
	e.str(s.UserID)
}
func (e *encoder) outcome(a providers.NextAction, checks []providers.Check, r providers.Reason) {
	e.int(int64(a.Kind))
	e.int(int64(len(a.Documents)))
	for _, d := range a.Documents {
		e.str(d.Type)
		e.str(d.Status)
		e.str(d.UploadLink)
	}
	e.int(int64(len(a.Fields)))
	for _, f := range a.Fields {
		e.str(f)
	}
	e.str(a.SDK.Token)
	e.str(a.SDK.Vendor)
	e.int(int64(a.AttemptsLeft))
	e.int(int64(len(checks)))
	for _, c := range checks {
		e.str(c.Name)
		e.str(c.Result)
	}
	e.str(r.Code)
	e.str(r.Description)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCodec
	}
	d.b = nil
}
func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}
func (d *decoder) str() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.fail()
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}
func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count is a slice length, bounded by what is left (every element takes at least a byte).
func (d *decoder) count() int {
	n := d.int()
	if n < 0 || n > int64(len(d.b)) {
		d.fail()
		return 0
	}
	return int(n)
}
func (d *decoder) time() time.Time {
	if len(d.b) == 0 {
		d.fail()
		return time.Time{}
	}
	present := d.b[0]
	d.b = d.b[1:]
	switch present {
	case 0:
		return time.Time{}
	case 1:
	default:
		d.fail()
		return time.Time{}
	}
	sec := d.int()
	nsec := d.uvarint()
	if nsec >= 1e9 {
		d.fail()
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}
func (d *decoder) subject() providers.Subject {
	return providers.Subject{CustomerID: d.str(), BusinessID: d.str(), BeneficialOwnerID: d.str(), UserID: d.str()}
}
func (d *decoder) small() int {
	v := d.int()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int(v)
}
func (d *decoder) outcome() (a providers.NextAction, checks []providers.Check, r providers.Reason) {
	a.Kind = providers.ActionKind(d.small())
	if n := d.count(); n > 0 {
		a.Documents = make([]providers.Document, n)
		for i := range a.Documents {
			a.Documents[i] = providers.Document{Type: d.str(), Status: d.str(), UploadLink: d.str()}
		}
	}
	if n := d.count(); n > 0 {
		a.Fields = make([]string, n)
		for i := range a.Fields {
			a.Fields[i] = d.str()
		}
	}
	a.SDK.Token = d.str()
	a.SDK.Vendor = d.str()
	a.AttemptsLeft = d.small()
	if n := d.count(); n > 0 {
		checks = make([]providers.Check, n)
		for i := range checks {
			checks[i] = providers.Check{Name: d.str(), Result: d.str()}
		}
	}
	r = providers.Reason{Code: d.str(), Description: d.str()}
	return a, checks, r
}

// start checks the version byte; json reports the legacy JSON form.
func (d *decoder) start() (json bool) {
	switch {
	case len(d.b) > 0 && d.b[0] == '{':
		return true
	case len(d.b) > 0 && d.b[0] == codecV1:
		d.b = d.b[1:]
	default:
		d.fail()
	}
	return false
}

func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = errCodec
	}
	return d.err
}

func marshalVerification(v *Verification) []byte {
	e := encoder{b: make([]byte, 0, 256)}
	e.b = append(e.b, codecV1)
	e.str(v.ID)
	e.str(v.Tenant)
	e.str(v.Provider)
	e.str(v.ProgramID)
	e.subject(v.Subject)
	e.int(int64(v.Status))
	e.str(v.ProviderStatus)
	e.int(int64(v.Attempt))
	e.time(v.AttemptStartedAt)
	e.time(v.StatusAt)
	e.time(v.CreatedAt)
	e.time(v.UpdatedAt)
	e.time(v.PassedAt)
	e.outcome(v.NextAction, v.Checks, v.Reason)
	return e.b
}

func unmarshalVerification(b []byte, v *Verification) error {
	d := decoder{b: b}
	if d.start() {
		return json.Unmarshal(b, v)
	}
	*v = Verification{
		ID: d.str(), Tenant: d.str(), Provider: d.str(), ProgramID: d.str(), Subject: d.subject(),
		Status: providers.Status(d.small()), ProviderStatus: d.str(), Attempt: d.small(),
		AttemptStartedAt: d.time(), StatusAt: d.time(), CreatedAt: d.time(), UpdatedAt: d.time(), PassedAt: d.time(),
	}
	v.NextAction, v.Checks, v.Reason = d.outcome()
	return d.end()
}

// marshalEvent encodes everything but the id, which is the stream entry's.
func marshalEvent(ev *Event) []byte {
	e := encoder{b: make([]byte, 0, 256)}
	e.b = append(e.b, codecV1)
	e.str(ev.Tenant)
	e.str(ev.VerificationID)
	e.str(ev.Provider)
	e.str(ev.ProgramID)
	e.subject(ev.Subject)
	e.int(int64(ev.Status))
	e.int(int64(ev.PreviousStatus))
	e.str(ev.ProviderEvent)
	e.int(int64(ev.Source))
	e.int(int64(ev.Attempt))
	e.time(ev.OccurredAt)
	e.time(ev.ReceivedAt)
	e.outcome(ev.NextAction, ev.Checks, ev.Reason)
	return e.b
}

func unmarshalEvent(b []byte, ev *Event) error {
	d := decoder{b: b}
	if d.start() {
		return json.Unmarshal(b, ev)
	}
	*ev = Event{
		Tenant: d.str(), VerificationID: d.str(), Provider: d.str(), ProgramID: d.str(), Subject: d.subject(),
		Status: providers.Status(d.small()), PreviousStatus: providers.Status(d.small()), ProviderEvent: d.str(),
		Source: Source(d.small()), Attempt: d.small(), OccurredAt: d.time(), ReceivedAt: d.time(),
	}
	ev.NextAction, ev.Checks, ev.Reason = d.outcome()
	return d.end()
}
