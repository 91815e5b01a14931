package cpemu

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// User is a signed-in sandbox user, as a mobile app holds it.
type User struct {
	UUID         string
	AccessToken  string
	RefreshToken string
	ExpiresIn    int // seconds
}

// SignUp registers username at the emulator served at baseURL (tenant DefaultTenantName,
// api-key DefaultAPIKey) and signs it in with the password grant: what an app does before it
// hands the gateway the user's tokens. Tests and tools use it against any emulator instance.
func SignUp(ctx context.Context, c *http.Client, baseURL, username string) (User, error) {
	const password = "sandbox@1234"
	post := func(path, ctype, body string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+path, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("tenantName", DefaultTenantName)
		req.Header.Set("api-key", DefaultAPIKey)
		req.Header.Set("Content-Type", ctype)
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
		return b, nil
	}
	reg, _ := json.Marshal(map[string]string{
		"firstName": "James", "lastName": "Smith", "username": username, "password": password,
		"preferredLanguage": "EN", "contactType": "EMAIL",
	})
	if _, err := post("/registration/user/selfregister", "application/json", string(reg)); err != nil {
		return User{}, err
	}
	b, err := post("/auth/oauth/token", "application/x-www-form-urlencoded",
		url.Values{"grant_type": {"password"}, "username": {username}, "password": {password}}.Encode())
	if err != nil {
		return User{}, err
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int    `json:"expires_in"`
		UUID         string `json:"uuid"`
	}
	if err := json.Unmarshal(b, &tok); err != nil {
		return User{}, fmt.Errorf("token response: %w", err)
	}
	return User{UUID: tok.UUID, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ExpiresIn: tok.ExpiresIn}, nil
}
