package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
)

// reloadCall is the REST call whose response shows the edit.
type reloadCall struct {
	edit   reloadEdit
	url    string
	client *http.Client
	token  string
}

// get calls the API once and returns the body of a 200 answer.
func (c *reloadCall) get(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return "", err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(body))
	}
	return string(body), nil
}

// waitFor polls the call every 10ms until its answer contains want ("" is
// any 200 answer) and returns when it first did.
func (c *reloadCall) waitFor(ctx context.Context, want string, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		body, err := c.get(ctx)
		if err == nil && strings.Contains(body, want) {
			return time.Now(), nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("the answer has no %q yet", want)
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("%s did not show the change within %s (last: %w)", c.url, timeout, last)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// ready waits for the service to answer SERVING, signs in when the call
// needs it, and waits for the call to answer.
func (c *reloadCall) ready(ctx context.Context, svc fleet.Service, timeout time.Duration) error {
	wait, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if r := fleet.PollServing(wait, svc.GRPCDial, svc.ClientTLS); r.Err != nil {
		return fmt.Errorf("%s not SERVING on %s within %s (last: %w)", svc.Name, svc.GRPCDial, timeout, r.Err)
	}
	if err := c.signIn(ctx, svc.HTTPDial); err != nil {
		return err
	}
	_, err := c.waitFor(ctx, "", timeout)
	return err
}

// signIn registers a user and logs in, for a call that needs a token. The
// token stays valid across restarts: the signing key is a file.
func (c *reloadCall) signIn(ctx context.Context, httpAddr string) error {
	if !c.edit.Login {
		return nil
	}
	email := fmt.Sprintf("bench-%d@example.com", time.Now().UnixNano())
	const password = "bench-password-1"
	post := func(path string, body any) ([]byte, error) {
		payload, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+httpAddr+path, bytes.NewReader(payload))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(out))
		}
		return out, err
	}
	if _, err := post("/v1/users", map[string]string{"email": email, "password": password, "displayName": "Bench"}); err != nil {
		return err
	}
	out, err := post("/v1/sessions", map[string]string{"email": email, "password": password})
	if err != nil {
		return err
	}
	var session struct {
		AccessToken string `json:"accessToken"`
	}
	if err := json.Unmarshal(out, &session); err != nil || session.AccessToken == "" {
		return fmt.Errorf("login answered no access token: %s", out)
	}
	c.token = session.AccessToken
	return nil
}
