package server

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of every error the gateway returns.
const ErrorDomain = "kycgw"

// ErrorInfo reasons, documented in proto/kyc/v1/kyc.proto. Clients switch on these.
const (
	ReasonInvalidField           = "INVALID_FIELD"
	ReasonUnknownProvider        = "UNKNOWN_PROVIDER"
	ReasonIdempotencyKeyReused   = "IDEMPOTENCY_KEY_REUSED"
	ReasonIdempotencyKeyInFlight = "IDEMPOTENCY_KEY_IN_FLIGHT"
	ReasonAlreadyPassed          = "KYC_ALREADY_PASSED"
	ReasonVerificationNotFound   = "VERIFICATION_NOT_FOUND"
	ReasonSubjectNotFound        = "SUBJECT_NOT_FOUND"
	ReasonProviderUnavailable    = "PROVIDER_UNAVAILABLE"
	ReasonProviderError          = "PROVIDER_ERROR"
	ReasonUnknownProviderStatus  = "UNKNOWN_PROVIDER_STATUS"
	ReasonStoreUnavailable       = "STORE_UNAVAILABLE"
	ReasonSubscriberTooSlow      = "SUBSCRIBER_TOO_SLOW"
	ReasonCursorExpired          = "CURSOR_EXPIRED"
	ReasonShuttingDown           = "SHUTTING_DOWN"
	ReasonUnauthenticated        = "UNAUTHENTICATED"
	ReasonProviderNotAllowed     = "PROVIDER_NOT_ALLOWED"
	ReasonProgramNotAllowed      = "PROGRAM_NOT_ALLOWED"
	ReasonTooManyStreams         = "TOO_MANY_STREAMS"
)

// apiError builds a status error with an ErrorInfo and optional further details.
func apiError(code codes.Code, reason, msg string, md map[string]string, details ...protoadapt.MessageV1) error {
	st := status.New(code, msg)
	all := append([]protoadapt.MessageV1{&errdetails.ErrorInfo{Reason: reason, Domain: ErrorDomain, Metadata: md}}, details...)
	if withDetails, err := st.WithDetails(all...); err == nil {
		st = withDetails
	}
	return st.Err()
}

// fieldViolation is one invalid field, named as in the API ("applicant.ssn").
type fieldViolation struct {
	field, reason string
}

// invalidFields reports validation failures: INVALID_ARGUMENT with a message naming every
// field and a google.rpc.BadRequest detail. Reasons never quote the rejected values, which may
// be personal data.
func invalidFields(vs ...fieldViolation) error {
	parts := make([]string, len(vs))
	br := &errdetails.BadRequest{}
	for i, v := range vs {
		parts[i] = v.field + ": " + v.reason
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.field, Description: v.reason})
	}
	return apiError(codes.InvalidArgument, ReasonInvalidField, "invalid request: "+strings.Join(parts, "; "), nil, br)
}

// storeError maps a store failure. Context errors keep their own codes.
func storeError(err error) error {
	if s, ok := contextError(err); ok {
		return s
	}
	return apiError(codes.Unavailable, ReasonStoreUnavailable, "state store unavailable; retry later", nil)
}

func contextError(err error) (error, bool) {
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request canceled"), true
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded"), true
	}
	return nil, false
}

func reasonOf(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			return info.GetReason()
		}
	}
	return ""
}

// httpStatus is the REST status for a gRPC error: grpc-gateway's mapping, except where the
// API promises otherwise (422 for a reused idempotency key, 409 for an already passed KYC).
func httpStatus(st *status.Status) int {
	switch reasonOf(st) {
	case ReasonIdempotencyKeyReused:
		return http.StatusUnprocessableEntity
	case ReasonAlreadyPassed, ReasonIdempotencyKeyInFlight:
		return http.StatusConflict
	}
	return runtime.HTTPStatusFromCode(st.Code())
}

// restErrorHandler writes errors as grpc-gateway does (a google.rpc.Status body), with the
// API's status codes and a Retry-After on answers that invite a retry.
func restErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	st := status.Convert(err)
	if b, ok := r.Body.(*cappedBody); ok && b.over && st.Code() == codes.InvalidArgument && reasonOf(st) == "" {
		writeTooLarge(w, b.limit)
		return
	}
	if st.Code() == codes.InvalidArgument && reasonOf(st) == "" {
		// The gateway's own decoding error: its text quotes the rejected value (an SSN sent
		// as a number, say). Keep at most the name of an unknown field.
		msg := "request body: malformed JSON, or a value of the wrong type"
		if m := unknownFieldRE.FindStringSubmatch(st.Message()); m != nil {
			msg = "request body: unknown field " + m[1]
		}
		err = apiError(codes.InvalidArgument, ReasonInvalidField, msg, nil)
		st = status.Convert(err)
	}
	code := httpStatus(st)
	if code == http.StatusServiceUnavailable || st.Code() == codes.Aborted {
		w.Header().Set("Retry-After", "1")
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, &statusWriter{ResponseWriter: w, code: code}, r, err)
}

var unknownFieldRE = regexp.MustCompile(`unknown field "([A-Za-z0-9_.]{1,64})"`)

// statusWriter replaces the status code the default handler writes.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(int) { w.ResponseWriter.WriteHeader(w.code) }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
