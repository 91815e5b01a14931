package cpemu

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kycgw/kycgw/internal/emulator/faults"
)

// Defaults for zero Options fields.
const (
	DefaultTenantName     = "sandbox"
	DefaultAPIKey         = "sandbox-api-key"
	DefaultReviewDelay    = 2 * time.Second
	DefaultAccessTokenTTL = time.Hour
)

// maxRequestBody caps request bodies; the API's are a few hundred bytes.
const maxRequestBody = 64 << 10

// Options configures an Emulator. The zero value is usable.
type Options struct {
	// TenantName is the only tenant the emulator knows (default "sandbox"). Requests must send
	// it in the tenantName header.
	TenantName string
	// APIKey is the accepted api-key header (default "sandbox-api-key").
	APIKey string
	// ReviewDelay is how long a user stays PENDING after registerUser before the outcome its
	// workflowId chose (default 2 s).
	ReviewDelay time.Duration
	// AccessTokenTTL is the lifetime of access tokens (default 1 h). Tests shorten it, or move
	// Now forward, to make clients refresh.
	AccessTokenTTL time.Duration
	// Now is the clock for token expiry and review delays; nil means time.Now.
	Now func() time.Time
	// Logger receives lifecycle logs (never tokens or passwords); nil discards them.
	Logger *slog.Logger
}

// Emulator is an http.Handler serving the CloudPayments API (see the package doc for routes).
// It starts no goroutines: time-based transitions are computed when a user is read.
type Emulator struct {
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	faults *faults.Injector
	api    http.Handler // faults in front of the API mux
	ctl    *http.ServeMux
	key    []byte // HS256 key of the tokens this emulator issues

	mu            sync.Mutex
	users         map[string]*user       // by uuid
	byName        map[string]string      // lower-cased username -> uuid
	access        map[string]tokenRecord // by jti
	refresh       map[string]tokenRecord // by jti
	registrations int
	submissions   int
	userInfoCalls int
	refreshes     int
}

// New returns an Emulator configured by o.
func New(o Options) *Emulator {
	if o.TenantName == "" {
		o.TenantName = DefaultTenantName
	}
	if o.APIKey == "" {
		o.APIKey = DefaultAPIKey
	}
	if o.ReviewDelay <= 0 {
		o.ReviewDelay = DefaultReviewDelay
	}
	if o.AccessTokenTTL <= 0 {
		o.AccessTokenTTL = DefaultAccessTokenTTL
	}
	e := &Emulator{
		opts:    o,
		log:     o.Logger,
		now:     o.Now,
		key:     make([]byte, 32),
		users:   map[string]*user{},
		byName:  map[string]string{},
		access:  map[string]tokenRecord{},
		refresh: map[string]tokenRecord{},
	}
	_, _ = rand.Read(e.key)
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.faults = faults.New(e.faultBody)

	api := http.NewServeMux()
	api.HandleFunc("POST /registration/user/selfregister", e.selfRegister)
	api.HandleFunc("POST /auth/oauth/token", e.token)
	api.HandleFunc("GET /kyc-ms/getUserInfo", e.getUserInfo)
	api.HandleFunc("GET /kyc-ms/getToken", e.getToken)
	api.HandleFunc("POST /kyc-ms/registerUser", e.registerUser)
	api.HandleFunc("/", e.notFound)
	e.api = e.faults.Wrap(e.gatewayChecks(api))

	ctl := http.NewServeMux()
	ctl.Handle("/_sandbox/faults", e.faults.ControlHandler())
	ctl.Handle("POST /_sandbox/users/{uuid}/status", e.gatewayChecks(http.HandlerFunc(e.forceStatus)))
	ctl.HandleFunc("/", e.notFound)
	e.ctl = ctl
	return e
}

// Faults returns the fault injector mounted in front of the API (not in front of /_sandbox/).
func (e *Emulator) Faults() *faults.Injector { return e.faults }

// Registrations returns how many registerUser calls were accepted, including a repeated SDK
// result answered 200 again. Tests use it to prove a client called once.
func (e *Emulator) Registrations() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.registrations
}

// Submissions returns how many registerUser calls opened a new attempt (LV1 -> PENDING);
// unlike Registrations it does not count a repeated SDK result.
func (e *Emulator) Submissions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.submissions
}

// UserInfoCalls returns how many getUserInfo calls were answered with a user's status.
func (e *Emulator) UserInfoCalls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.userInfoCalls
}

// Refreshes returns how many refresh_token grants issued a new access token.
func (e *Emulator) Refreshes() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.refreshes
}

// ServeHTTP routes the sandbox control paths directly and everything else through the fault
// injector to the API.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r = faults.Rooted(r)
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	if strings.HasPrefix(r.URL.Path, "/_sandbox/") {
		e.ctl.ServeHTTP(w, r)
		return
	}
	e.api.ServeHTTP(w, r)
}

// gatewayChecks is the API gateway in front of every service: the api-key (a Tyk key in the
// real deployment) and the tenant must both be right before anything else is looked at.
func (e *Emulator) gatewayChecks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !equal(r.Header.Get("api-key"), e.opts.APIKey) {
			e.writeCPError(w, http.StatusForbidden, "INVALID_API_KEY", "The api-key header is missing or not valid")
			return
		}
		if !equal(r.Header.Get("tenantName"), e.opts.TenantName) {
			e.writeCPError(w, http.StatusForbidden, "INVALID_TENANT", "The tenantName header is missing or not a known tenant")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func equal(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// cpInvalidRequest is the error shape the SDK's CPInvalidRequest decodes.
type cpInvalidRequest struct {
	StatusCode              string `json:"statusCode"`
	StatusMessage           string `json:"statusMessage"`
	AdditionalStatusCode    string `json:"additionalStatusCode"`
	AdditionalStatusMessage string `json:"additionalStatusMessage"`
	TenantName              string `json:"tenantName"`
}

func (e *Emulator) writeCPError(w http.ResponseWriter, status int, code, msg string) {
	_, body := e.cpError(status, code, msg)
	writeJSON(w, status, body)
}

// cpError builds a CPInvalidRequest body; it returns the status too for handlers that answer
// (status, body) pairs.
func (e *Emulator) cpError(status int, code, msg string) (int, cpInvalidRequest) {
	return status, cpInvalidRequest{
		StatusCode:              strconv.Itoa(status),
		StatusMessage:           http.StatusText(status),
		AdditionalStatusCode:    code,
		AdditionalStatusMessage: msg,
		TenantName:              e.opts.TenantName,
	}
}

// faultBody writes injected 503 and 429 answers in the API's own error shape.
func (e *Emulator) faultBody(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusTooManyRequests:
		e.writeCPError(w, status, "TOO_MANY_REQUESTS", "Rate limit exceeded; retry later")
	case http.StatusServiceUnavailable:
		e.writeCPError(w, status, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable")
	default:
		e.writeCPError(w, status, strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_")), http.StatusText(status))
	}
}

// oauthError is Spring Security OAuth2's error shape.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="oauth", error=%q, error_description=%q`, code, desc))
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, oauthError{Error: code, ErrorDescription: desc})
}

func (e *Emulator) notFound(w http.ResponseWriter, _ *http.Request) {
	e.writeCPError(w, http.StatusNotFound, "NOT_FOUND", "Resource not found")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
