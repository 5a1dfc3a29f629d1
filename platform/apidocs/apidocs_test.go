package apidocs

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServesTheDocumentAndALocalDocsPage(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux, []byte("openapi: 3.0.3\n"))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tt := range []struct{ path, contains string }{
		{"/openapi.yaml", "openapi: 3.0.3"},
		{"/docs/", `src="swagger-ui-bundle.js"`},
		{"/docs/init.js", "../openapi.yaml"},
		{"/docs/swagger-ui-bundle.js", "SwaggerUIBundle"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			require.NoError(t, err)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Contains(t, string(body), tt.contains)
			assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), "CORS is the server's middleware's business")
		})
	}

	resp, err := http.Get(srv.URL + "/docs/missing.js")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}
