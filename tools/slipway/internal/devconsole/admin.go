package devconsole

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// adminSession logs the console in as the admin that the user service seeds
// (ADMIN_EMAIL/ADMIN_PASSWORD), because /debug/config answers admins only.
// The token is kept until a service refuses it (it expired, or the user
// service restarted with another key) and then fetched again.
type adminSession struct {
	client          *http.Client
	loginURL        string // the user service's POST /v1/sessions; "" when there is none
	email, password string

	mu    sync.Mutex
	token string
}

// newAdminSession logs in at loginURL, or at the "user" service's
// /v1/sessions when loginURL is empty.
func newAdminSession(client *http.Client, services []Service, loginURL, email, password string) *adminSession {
	a := &adminSession{client: client, email: email, password: password, loginURL: loginURL}
	for _, s := range services {
		if s.Name == "user" && a.loginURL == "" {
			a.loginURL = s.HTTPURL + "/v1/sessions"
		}
	}
	if email == "" {
		a.loginURL = ""
	}
	return a
}

// Token returns the admin's bearer token, logging in when there is none; ""
// when the console has no admin login (services then answer 401).
func (a *adminSession) Token(ctx context.Context) (string, error) {
	a.mu.Lock()
	token := a.token
	a.mu.Unlock()
	if token != "" {
		return token, nil
	}
	if a.loginURL == "" {
		return "", nil
	}
	body, _ := json.Marshal(map[string]string{"email": a.email, "password": a.password})
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.loginURL, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("admin login: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("admin login as %s answered %d", a.email, resp.StatusCode)
	}
	var session struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxFetchBytes)).Decode(&session); err != nil || session.AccessToken == "" {
		return "", fmt.Errorf("admin login as %s: no access token in the answer", a.email)
	}
	a.mu.Lock()
	a.token = session.AccessToken
	a.mu.Unlock()
	return session.AccessToken, nil
}

// Refused forgets token after a service refused it.
func (a *adminSession) Refused(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.token == token {
		a.token = ""
	}
}
