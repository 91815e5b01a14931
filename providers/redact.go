package providers

import "log/slog"

// Redacted renderings. slog consults LogValue only on the value it is given, not on fields
// nested inside it (its JSON handler renders those with encoding/json), so every type that
// holds applicant data or credentials, however deep, renders itself without them.

// String returns a form without the session.
func (c CloudPaymentsInput) String() string {
	return "CloudPaymentsInput{Session:" + redacted + " DeviceID:" + c.DeviceID +
		" AccountID:" + c.AccountID + " WorkflowID:" + c.WorkflowID + "}"
}

// GoString returns the same redacted form, so %#v is safe too.
func (c CloudPaymentsInput) GoString() string { return c.String() }

// LogValue implements slog.LogValuer.
func (c CloudPaymentsInput) LogValue() slog.Value {
	return slog.GroupValue(slog.String("device_id", c.DeviceID), slog.Bool("sdk_result", c.WorkflowID != ""))
}

// GoString returns a redacted form, so %#v is safe too.
func (s SDKSession) GoString() string { return s.String() }

// LogValue implements slog.LogValuer: the subject and program, never the applicant or session.
func (in StartInput) LogValue() slog.Value {
	return slog.GroupValue(slog.String("program_id", in.ProgramID), slog.String("subject", in.Subject.Key()),
		slog.Bool("retry", in.Retry))
}

// LogValue implements slog.LogValuer.
func (in StatusInput) LogValue() slog.Value {
	return slog.GroupValue(slog.String("program_id", in.ProgramID), slog.String("subject", in.Subject.Key()))
}

// LogValue implements slog.LogValuer: the outcome, never the SDK token or a session.
func (r Result) LogValue() slog.Value {
	return slog.GroupValue(slog.String("status", r.Status.String()), slog.String("provider_status", r.ProviderStatus),
		slog.Bool("submitted", r.Submitted))
}
