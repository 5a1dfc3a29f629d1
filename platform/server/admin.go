package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/auth"
	"github.com/slipway-dev/slipway/platform/errkind"
	"github.com/slipway-dev/slipway/platform/faults"
)

// AdminFaultsMethod is the method name every operator endpoint
// (/admin/faults, /debug/config, /debug/pprof/) presents to the App's auth
// hook (WithAuth), so its bearer token is verified exactly as an RPC's is. A
// policy leaves it at Authenticated; the endpoints then also demand the admin
// role.
const AdminFaultsMethod = "/slipway.platform.v1.Admin/Faults"

// maxAdminBody bounds a PUT /admin/faults body.
const maxAdminBody = 64 << 10

// faultsState is the body of every successful /admin/faults answer.
type faultsState struct {
	Enabled bool          `json:"enabled"`
	Rules   []faults.Rule `json:"rules"`
}

// adminFaults serves /admin/faults: GET shows the fault rules, PUT replaces
// them, DELETE clears them. Every method needs an admin's bearer token;
// changes need faults_enabled and are logged with who made them.
func (a *App) adminFaults(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodPut, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, PUT, DELETE")
		writeProblem(w, r, problem(http.StatusMethodNotAllowed, codes.Unimplemented, r.Method+" is not allowed on /admin/faults; use GET, PUT or DELETE"))
		return
	}
	caller, ok := a.authorizeAdmin(w, r, "/admin/faults")
	if !ok {
		return
	}
	if r.Method == http.MethodGet {
		a.writeFaults(w)
		return
	}
	if !a.faults.Enabled() {
		writeProblem(w, r, problem(http.StatusConflict, codes.FailedPrecondition, "fault injection is disabled (FAULTS_ENABLED=false)"))
		return
	}
	var rules []faults.Rule
	if r.Method == http.MethodPut {
		var violations []FieldViolation
		rules, violations = readRules(http.MaxBytesReader(w, r.Body, maxAdminBody))
		if len(violations) > 0 {
			p := problem(http.StatusBadRequest, codes.InvalidArgument, "invalid fault rules: "+violations[0].Field+": "+violations[0].Description)
			p.Errors = violations
			writeProblem(w, r, p)
			return
		}
	}
	if err := a.faults.Set(rules); err != nil {
		// readRules validated every rule, so this is a rule Set refuses for a reason of its own.
		writeProblem(w, r, problem(http.StatusBadRequest, codes.InvalidArgument, err.Error()))
		return
	}
	encoded, _ := json.Marshal(rules)
	who := []any{"by", caller.Subject, "email", caller.Email, "remote_addr", r.RemoteAddr}
	if len(rules) == 0 {
		a.logger.InfoContext(r.Context(), "fault rules cleared", who...)
	} else {
		a.logger.WarnContext(r.Context(), "fault rules set", append(who, "rules", string(encoded))...)
	}
	a.writeFaults(w)
}

// authorizeAdmin verifies the request's bearer token with the App's auth
// hook and demands the admin role for the endpoint what. It answers 401, 403
// or 503 itself and returns false when the caller may not go on.
func (a *App) authorizeAdmin(w http.ResponseWriter, r *http.Request, what string) (auth.Claims, bool) {
	if a.opts.auth == nil {
		writeProblem(w, r, problem(http.StatusForbidden, codes.PermissionDenied, "this service verifies no tokens (no auth hook), so nobody is an admin here"))
		return auth.Claims{}, false
	}
	ctx := metadata.NewIncomingContext(r.Context(), metadata.MD{"authorization": r.Header.Values("Authorization")})
	authed, err := a.opts.auth(ctx, AdminFaultsMethod)
	if err != nil {
		st := status.Convert(err)
		if st.Code() == codes.Unauthenticated {
			w.Header().Set("WWW-Authenticate", `Bearer realm="slipway"`)
		}
		writeProblem(w, r, problem(runtime.HTTPStatusFromCode(st.Code()), st.Code(), st.Message()))
		return auth.Claims{}, false
	}
	claims, ok := auth.FromContext(authed)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="slipway"`)
		writeProblem(w, r, problem(http.StatusUnauthorized, codes.Unauthenticated, "missing bearer token"))
		return auth.Claims{}, false
	}
	if claims.Role != auth.RoleAdmin {
		writeProblem(w, r, problem(http.StatusForbidden, codes.PermissionDenied, fmt.Sprintf("%s requires the admin role; role %q is not allowed", what, claims.Role)))
		return auth.Claims{}, false
	}
	return claims, true
}

// readRules decodes {"rules":[...]} and validates each rule, naming every
// field at fault as rules[i].<key>.
func readRules(body io.Reader) ([]faults.Rule, []FieldViolation) {
	var req struct {
		Rules *[]json.RawMessage `json:"rules"`
	}
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, []FieldViolation{{Field: "body", Description: bodyError(err)}}
	}
	if dec.More() {
		return nil, []FieldViolation{{Field: "body", Description: "want one JSON object"}}
	}
	if req.Rules == nil {
		return nil, []FieldViolation{{Field: "rules", Description: `required; send {"rules":[]} or DELETE to clear`}}
	}
	rules := make([]faults.Rule, 0, len(*req.Rules))
	var violations []FieldViolation
	for i, raw := range *req.Rules {
		var rule faults.Rule
		err := json.Unmarshal(raw, &rule)
		if err == nil {
			err = rule.Validate()
		}
		if err != nil {
			field, description := fmt.Sprintf("rules[%d]", i), err.Error()
			var fe *errkind.FieldError
			if errors.As(err, &fe) {
				field, description = field+"."+fe.Field, fe.Description
			}
			violations = append(violations, FieldViolation{Field: field, Description: description})
			continue
		}
		rules = append(rules, rule)
	}
	return rules, violations
}

// bodyError says what is wrong with a request body json could not decode.
func bodyError(err error) string {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Sprintf("larger than %d bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return `empty; want {"rules":[...]}`
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown key " + field + `; want {"rules":[...]}`
	}
	return "not JSON of the form {\"rules\":[...]}: " + err.Error()
}

func (a *App) writeFaults(w http.ResponseWriter) {
	state := faultsState{Enabled: a.faults.Enabled(), Rules: a.faults.Rules()}
	if state.Rules == nil {
		state.Rules = []faults.Rule{}
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(state); err != nil {
		http.Error(w, "fault rules cannot be encoded", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// problem is an RFC 9457 body for an answer the platform writes itself.
func problem(httpStatus int, code codes.Code, detail string) Problem {
	return Problem{
		Type:   "about:blank",
		Title:  http.StatusText(httpStatus),
		Status: httpStatus,
		Detail: detail,
		Code:   faults.CodeName(code),
	}
}
