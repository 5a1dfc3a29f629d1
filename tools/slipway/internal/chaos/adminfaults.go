package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	userv1 "github.com/slipway-dev/slipway/api/gen/go/slipway/user/v1"

	"github.com/slipway-dev/slipway/tools/slipway/internal/fleet"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
)

// rule is one rule of PUT /admin/faults.
type rule struct {
	Method string  `json:"method"`
	Code   string  `json:"code,omitempty"`
	Rate   float64 `json:"rate,omitempty"`
	Delay  string  `json:"delay,omitempty"`
}

// putAdminFaults sets the rules of the service at httpAddr (DELETE when
// there are none).
func putAdminFaults(ctx context.Context, httpAddr, token string, active []grpcFault) error {
	method, body := http.MethodDelete, []byte(nil)
	if len(active) > 0 {
		rules := make([]rule, len(active))
		for i, g := range active {
			rules[i] = rule{Method: g.Method, Code: g.Code, Rate: g.Rate}
			if g.Delay > 0 {
				rules[i].Delay = g.Delay.String()
			}
		}
		var err error
		if body, err = json.Marshal(map[string]any{"rules": rules}); err != nil {
			return err
		}
		method = http.MethodPut
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+httpAddr+"/admin/faults", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s /admin/faults: %w", method, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	switch {
	case resp.StatusCode/100 == 2:
		return nil
	case resp.StatusCode == http.StatusConflict:
		return fmt.Errorf("%s /admin/faults: fault injection is off in the service (FAULTS_ENABLED=true is needed): %s", method, strings.TrimSpace(string(msg)))
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%s /admin/faults: 404: this build of the service has no fault admin endpoint", method)
	}
	return fmt.Errorf("%s /admin/faults: %s: %s", method, resp.Status, strings.TrimSpace(string(msg)))
}

// adminToken logs in as the admin the user service seeded.
func (f *proxiedFleet) adminToken(ctx context.Context) (string, error) {
	user, ok := f.service("user")
	if !ok {
		return "", errors.New("the user service is not running")
	}
	conn, err := loadgen.DialGRPC(user.GRPCDial, user.ClientTLS)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	email, password := f.adminCredentials()
	resp, err := userv1.NewUserServiceClient(conn).Login(ctx, &userv1.LoginRequest{Email: email, Password: password})
	if err != nil {
		return "", fmt.Errorf("log in as the admin %s: %w", email, loadgen.CallError(err))
	}
	return resp.GetAccessToken(), nil
}

// adminCredentials are the ones the user service was started with.
func (f *proxiedFleet) adminCredentials() (string, string) {
	user, _ := f.service("user")
	return fleet.EnvValue(user.Env, "ADMIN_EMAIL"), fleet.EnvValue(user.Env, "ADMIN_PASSWORD")
}
