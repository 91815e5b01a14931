package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// errorDomain is the google.rpc.ErrorInfo domain of the gateway's errors.
const errorDomain = "kycgw"

// Reasons kycctl acts on (the proto lists them all).
const (
	reasonCursorExpired     = "CURSOR_EXPIRED"
	reasonSubscriberTooSlow = "SUBSCRIBER_TOO_SLOW"
)

// apiError is a gRPC error taken apart for printing.
type apiError struct {
	st         *status.Status
	info       *errdetails.ErrorInfo
	violations []*errdetails.BadRequest_FieldViolation
}

func parseError(err error) apiError {
	e := apiError{st: status.Convert(err)}
	for _, d := range e.st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			if d.GetDomain() == errorDomain {
				e.info = d
			}
		case *errdetails.BadRequest:
			e.violations = append(e.violations, d.GetFieldViolations()...)
		}
	}
	return e
}

func (e apiError) code() codes.Code { return e.st.Code() }

func (e apiError) reason() string { return e.info.GetReason() }

// codeName is the canonical name, INVALID_ARGUMENT rather than grpc-go's InvalidArgument, as
// the API documentation and other languages' clients spell it.
func (e apiError) codeName() string { return code.Code(e.st.Code()).String() }

// exitCode groups the codes into the outcomes the help documents.
func (e apiError) exitCode() int {
	switch e.code() {
	case codes.InvalidArgument:
		return exitInvalid
	case codes.Unauthenticated, codes.PermissionDenied:
		return exitAuth
	case codes.NotFound:
		return exitNotFound
	case codes.AlreadyExists, codes.Aborted, codes.FailedPrecondition:
		return exitConflict
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted:
		return exitUnavailable
	case codes.OutOfRange:
		return exitCursorExpired
	}
	return exitFailure
}

// report prints a failed call on stderr and returns its exit code. The gateway's messages and
// details never quote the values it refused, so nothing personal is echoed.
func (c *cli) report(call string, err error) int {
	e := parseError(err)
	if c.json() {
		type violation struct {
			Field       string `json:"field"`
			Description string `json:"description"`
		}
		out := struct {
			Call            string            `json:"call"`
			Code            string            `json:"code"`
			Message         string            `json:"message"`
			Reason          string            `json:"reason,omitempty"`
			Metadata        map[string]string `json:"metadata,omitempty"`
			FieldViolations []violation       `json:"field_violations,omitempty"`
		}{Call: call, Code: e.codeName(), Message: e.st.Message(), Reason: e.reason(), Metadata: e.info.GetMetadata()}
		for _, v := range e.violations {
			out.FieldViolations = append(out.FieldViolations, violation{v.GetField(), v.GetDescription()})
		}
		b, _ := json.Marshal(map[string]any{"error": out})
		fmt.Fprintf(c.stderr, "%s\n", b)
		return e.exitCode()
	}
	fmt.Fprintf(c.stderr, "kycctl: %s: %s: %s\n", call, e.codeName(), e.st.Message())
	if e.info != nil {
		fmt.Fprintf(c.stderr, "  reason: %s\n", e.reason())
		md := e.info.GetMetadata()
		for _, k := range slices.Sorted(maps.Keys(md)) {
			fmt.Fprintf(c.stderr, "  %s: %s\n", k, md[k])
		}
	}
	for _, v := range e.violations {
		fmt.Fprintf(c.stderr, "  field %s: %s\n", v.GetField(), v.GetDescription())
	}
	return e.exitCode()
}
