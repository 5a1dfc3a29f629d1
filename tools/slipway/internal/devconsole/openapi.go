package devconsole

import (
	"encoding/json"
	"fmt"
	"net/http"

	"go.yaml.in/yaml/v3"
)

// openAPIPath is where every service serves its OpenAPI document
// (platform/apidocs).
const openAPIPath = "/openapi.yaml"

// serveOpenAPI answers GET /api/openapi/{svc}: the service's OpenAPI
// document as JSON, with servers set to the service's own HTTP URL, so an
// API explorer in the console calls the service directly (CORS allows the
// console's origin).
func (c *Console) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("svc")
	svc, ok := c.service(name)
	if !ok {
		writeProblem(w, http.StatusNotFound, fmt.Sprintf("no service %q in this dev session", name))
		return
	}
	resp, err := fetch(r.Context(), c.client, svc.HTTPURL+openAPIPath, "")
	if err != nil {
		writeProblem(w, http.StatusBadGateway, fmt.Sprintf("%s does not answer: %v", name, err))
		return
	}
	if resp.status != http.StatusOK {
		writeProblem(w, http.StatusBadGateway, fmt.Sprintf("%s answered %d for %s", name, resp.status, openAPIPath))
		return
	}
	doc, err := openAPIWithServer(resp.body, svc.HTTPURL, name)
	if err != nil {
		writeProblem(w, http.StatusBadGateway, fmt.Sprintf("%s%s: %v", name, openAPIPath, err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(doc)
}

// openAPIWithServer decodes an OpenAPI document (YAML or JSON), replaces its
// servers with url, and encodes it as JSON.
func openAPIWithServer(doc []byte, url, service string) ([]byte, error) {
	var raw any
	if err := yaml.Unmarshal(doc, &raw); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	obj, ok := jsonCompatible(raw).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not an OpenAPI document: the top level is not a mapping")
	}
	if _, ok := obj["openapi"]; !ok {
		return nil, fmt.Errorf("not an OpenAPI document: no openapi version")
	}
	obj["servers"] = []any{map[string]any{"url": url, "description": service + " in this dev session"}}
	return json.Marshal(obj)
}

// jsonCompatible turns YAML's maps with non-string keys (a response code
// written as 200 rather than "200") into maps with string keys.
func jsonCompatible(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonCompatible(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonCompatible(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = jsonCompatible(e)
		}
		return x
	}
	return v
}
