package cpemu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
)

// refreshTokenTTL is the refresh token lifetime the backend documents ("3 months").
const refreshTokenTTL = 90 * 24 * time.Hour

// sweepAbove is the token-table size above which expired records are dropped on the next
// issue, so a long-running sandbox does not grow without bound.
const sweepAbove = 1024

// tokenRecord is what the emulator remembers of a token it issued. The JWT's exp claim is
// whole seconds; expiresAt is exact, so tests with sub-second TTLs behave.
type tokenRecord struct {
	uuid      string
	expiresAt time.Time
}

// selfRegisterRequest is the documented self-register body.
type selfRegisterRequest struct {
	FirstName         string `json:"firstName"`
	LastName          string `json:"lastName"`
	Username          string `json:"username"`
	Password          string `json:"password"`
	TimeZoneFormatted string `json:"timeZoneFormatted"`
	PreferredLanguage string `json:"preferredLanguage"`
	ContactType       string `json:"contactType"`
}

// userResponse is the created user. The real response is not documented (it is cut off in the
// stored page); this is the request echoed without the password, plus the uuid the token
// endpoint and JWTs carry.
type userResponse struct {
	UUID              string `json:"uuid"`
	Username          string `json:"username"`
	FirstName         string `json:"firstName"`
	LastName          string `json:"lastName"`
	TimeZoneFormatted string `json:"timeZoneFormatted"`
	PreferredLanguage string `json:"preferredLanguage"`
	ContactType       string `json:"contactType"`
	TenantName        string `json:"tenantName"`
}

func (e *Emulator) selfRegister(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		e.writeCPError(w, http.StatusBadRequest, "INVALID_REQUEST", "The request body is too large or unreadable")
		return
	}
	var req selfRegisterRequest
	// The documented sample has a duplicate key (encoding/json keeps the last) and a trailing
	// comma (stripped first), and clients copy samples verbatim.
	if err := json.Unmarshal(stripTrailingCommas(body), &req); err != nil {
		e.writeCPError(w, http.StatusBadRequest, "INVALID_REQUEST", "The request body is not valid JSON")
		return
	}
	if strings.TrimSpace(req.Username) == "" || req.Password == "" {
		e.writeCPError(w, http.StatusBadRequest, "INVALID_REQUEST", "username and password are required")
		return
	}
	e.mu.Lock()
	name := strings.ToLower(req.Username)
	if _, dup := e.byName[name]; dup {
		e.mu.Unlock()
		e.writeCPError(w, http.StatusBadRequest, "USERNAME_ALREADY_EXISTS", "The username is already registered")
		return
	}
	u := &user{
		uuid:      newUUID(),
		username:  req.Username,
		password:  sha256.Sum256([]byte(req.Password)),
		status:    stNotRegistered,
		remaining: initialAttempts,
	}
	e.users[u.uuid] = u
	e.byName[name] = u.uuid
	e.mu.Unlock()
	e.log.Info("cloudpayments sandbox: user registered", "uuid", u.uuid)
	writeJSON(w, http.StatusOK, userResponse{
		UUID:              u.uuid,
		Username:          req.Username,
		FirstName:         req.FirstName,
		LastName:          req.LastName,
		TimeZoneFormatted: req.TimeZoneFormatted,
		PreferredLanguage: req.PreferredLanguage,
		ContactType:       req.ContactType,
		TenantName:        e.opts.TenantName,
	})
}

// tokenResponse is exactly the backend's OauthTokenResponse.
type tokenResponse struct {
	AccessToken         string  `json:"access_token"`
	ExpiresIn           int64   `json:"expires_in"`
	JTI                 string  `json:"jti"`
	AppName             *string `json:"app_name"`
	LastSignonTimestamp int64   `json:"last_signon_timestamp"`
	RefreshToken        string  `json:"refresh_token"`
	Scope               string  `json:"scope"`
	TenantName          string  `json:"tenant_name"`
	TokenType           string  `json:"token_type"`
	UserType            string  `json:"user_type"`
	UUID                string  `json:"uuid"`
	NeedChangePassword  bool    `json:"need_change_password"`
}

// accessClaims are the access token's claims as decoded from the public samples.
type accessClaims struct {
	AppName             *string  `json:"app_name"`
	TenantName          string   `json:"tenant_name"`
	UserType            string   `json:"user_type"`
	UserName            string   `json:"user_name"`
	Scope               []string `json:"scope"`
	LastSignonTimestamp int64    `json:"last_signon_timestamp"`
	Exp                 int64    `json:"exp"`
	UUID                string   `json:"uuid"`
	Authorities         []string `json:"authorities"`
	JTI                 string   `json:"jti"`
	ClientID            string   `json:"client_id"`
}

// refreshClaims are a Spring JWT refresh token's: ati names the access token it came with.
type refreshClaims struct {
	UserName    string   `json:"user_name"`
	Scope       []string `json:"scope"`
	ATI         string   `json:"ati"`
	Exp         int64    `json:"exp"`
	UUID        string   `json:"uuid"`
	Authorities []string `json:"authorities"`
	JTI         string   `json:"jti"`
	ClientID    string   `json:"client_id"`
	TenantName  string   `json:"tenant_name"`
}

const (
	userType = "SUBSCRIBER"
	clientID = "cloudpayments-mobile"
)

var scopes = []string{"read", "write"}

func (e *Emulator) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "The request body is not a valid form")
		return
	}
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "password":
		e.passwordGrant(w, r.PostForm.Get("username"), r.PostForm.Get("password"))
	case "refresh_token":
		e.refreshGrant(w, r.PostForm.Get("refresh_token"))
	case "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing grant type")
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Unsupported grant type")
	}
}

func (e *Emulator) passwordGrant(w http.ResponseWriter, username, password string) {
	sum := sha256.Sum256([]byte(password))
	e.mu.Lock()
	u := e.users[e.byName[strings.ToLower(username)]]
	if username == "" || u == nil || !hmac.Equal(u.password[:], sum[:]) {
		e.mu.Unlock()
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Bad credentials")
		return
	}
	now := e.now()
	u.lastSignOn = now
	resp := e.issueLocked(u, now, "")
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

func (e *Emulator) refreshGrant(w http.ResponseWriter, tok string) {
	var c refreshClaims
	if !e.verify(tok, &c) {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
		return
	}
	e.mu.Lock()
	rec, ok := e.refresh[c.JTI]
	u := e.users[rec.uuid]
	now := e.now()
	switch {
	case !ok || u == nil:
		e.mu.Unlock()
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token")
		return
	case !now.Before(rec.expiresAt):
		e.mu.Unlock()
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Invalid refresh token (expired)")
		return
	}
	resp := e.issueLocked(u, now, tok)
	e.refreshes++
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

// issueLocked mints an access token (and, without refreshTok, a refresh token) for u. e.mu
// must be held.
func (e *Emulator) issueLocked(u *user, now time.Time, refreshTok string) tokenResponse {
	if len(e.access) > sweepAbove || len(e.refresh) > sweepAbove {
		sweep(e.access, now)
		sweep(e.refresh, now)
	}
	exp := now.Add(e.opts.AccessTokenTTL)
	ac := accessClaims{
		TenantName:          e.opts.TenantName,
		UserType:            userType,
		UserName:            u.username,
		Scope:               scopes,
		LastSignonTimestamp: u.lastSignOn.UnixMilli(),
		Exp:                 ceilUnix(exp),
		UUID:                u.uuid,
		Authorities:         []string{"CONSUMER"},
		JTI:                 newUUID(),
		ClientID:            clientID,
	}
	e.access[ac.JTI] = tokenRecord{uuid: u.uuid, expiresAt: exp}
	if refreshTok == "" {
		rexp := now.Add(refreshTokenTTL)
		rc := refreshClaims{
			UserName: u.username, Scope: scopes, ATI: ac.JTI, Exp: ceilUnix(rexp), UUID: u.uuid,
			Authorities: []string{"CONSUMER"}, JTI: newUUID(), ClientID: clientID, TenantName: e.opts.TenantName,
		}
		e.refresh[rc.JTI] = tokenRecord{uuid: u.uuid, expiresAt: rexp}
		refreshTok = e.sign(rc)
	}
	return tokenResponse{
		AccessToken:         e.sign(ac),
		ExpiresIn:           int64(e.opts.AccessTokenTTL / time.Second),
		JTI:                 ac.JTI,
		LastSignonTimestamp: ac.LastSignonTimestamp,
		RefreshToken:        refreshTok,
		Scope:               strings.Join(scopes, " "),
		TenantName:          e.opts.TenantName,
		TokenType:           "bearer",
		UserType:            userType,
		UUID:                u.uuid,
	}
}

func sweep(m map[string]tokenRecord, now time.Time) {
	for k, r := range m {
		if !now.Before(r.expiresAt) {
			delete(m, k)
		}
	}
}

// ceilUnix is t in whole seconds, rounded up so a JWT never claims to expire before it does.
func ceilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

func (e *Emulator) sign(claims any) string {
	p, _ := json.Marshal(claims)
	signing := jwtHeader + "." + base64.RawURLEncoding.EncodeToString(p)
	return signing + "." + base64.RawURLEncoding.EncodeToString(e.mac(signing))
}

func (e *Emulator) mac(s string) []byte {
	m := hmac.New(sha256.New, e.key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

// verify checks tok's signature and decodes its claims into v. Expiry is checked by the
// caller against the token record.
func (e *Emulator) verify(tok string, v any) bool {
	h, rest, ok := strings.Cut(tok, ".")
	if !ok || h != jwtHeader {
		return false
	}
	p, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, e.mac(h+"."+p)) {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	return err == nil && json.Unmarshal(raw, v) == nil
}

var errNoBearer = errors.New("no bearer token")

// bearerUser authenticates a kyc-ms request and returns its user, locked: the caller must
// unlock e.mu. On failure it has written the 401 and returns nil.
func (e *Emulator) bearerUser(w http.ResponseWriter, r *http.Request) *user {
	tok, err := bearer(r)
	if err != nil {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "Full authentication is required to access this resource")
		return nil
	}
	var c accessClaims
	if !e.verify(tok, &c) {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "Invalid access token")
		return nil
	}
	e.mu.Lock()
	rec, ok := e.access[c.JTI]
	u := e.users[rec.uuid]
	switch {
	case !ok || u == nil:
		e.mu.Unlock()
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "Invalid access token")
		return nil
	case !e.now().Before(rec.expiresAt):
		e.mu.Unlock()
		writeOAuthError(w, http.StatusUnauthorized, "invalid_token", "Access token expired")
		return nil
	}
	return u
}

func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", errNoBearer
	}
	return strings.TrimSpace(tok), nil
}

// stripTrailingCommas removes commas that directly precede a closing brace or bracket outside
// strings, the one non-JSON feature of the documented samples.
func stripTrailingCommas(b []byte) []byte {
	out := make([]byte, 0, len(b))
	inStr, esc := false, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			out = append(out, c)
			switch {
			case esc:
				esc = false
			case c == '\\':
				esc = true
			case c == '"':
				inStr = false
			}
			continue
		}
		if c == '"' {
			inStr = true
		}
		if c == ',' {
			j := i + 1
			for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\n' || b[j] == '\r') {
				j++
			}
			if j < len(b) && (b[j] == '}' || b[j] == ']') {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}
