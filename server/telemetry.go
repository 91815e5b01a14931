package server

import (
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/kycgw/kycgw/internal/telemetry"
	"google.golang.org/grpc"
)

// requestLog writes the per-request log lines. The mounted handlers (the sandbox emulators,
// which the gateway's own provider calls reach) log at debug, like probes: at info every Start
// would log its provider calls as requests too.
func (s *Server) requestLog() *telemetry.RequestLog {
	quiet := make([]string, 0, len(s.cfg.Mounts))
	for prefix := range s.cfg.Mounts {
		quiet = append(quiet, prefix)
	}
	return telemetry.NewRequestLog(s.cfg.Logger, quiet...)
}

// instrument wraps the HTTP port's mux: the server span outside (it continues a caller's trace
// and is named by the route), the request log and request id inside, next to the mux.
func (s *Server) instrument(mux http.Handler) http.Handler {
	return s.cfg.Tracing.HTTPHandler(s.requestLog().HTTP(mux))
}

// inprocDialOptions are the REST gateway's in-process connection's: its calls continue the
// HTTP request's trace, and the gRPC server behind it writes their log lines.
func (s *Server) inprocDialOptions() []grpc.DialOption {
	return append(s.cfg.Tracing.GRPCClientOptions(), grpc.WithChainStreamInterceptor(telemetry.Delegate))
}

// outgoingHeaderMatcher keeps the request id out of the REST response's Grpc-Metadata-
// headers: the HTTP middleware already answers it as X-Request-Id.
func outgoingHeaderMatcher(key string) (string, bool) {
	if strings.EqualFold(key, "x-request-id") {
		return "", false
	}
	return runtime.MetadataHeaderPrefix + key, true
}
