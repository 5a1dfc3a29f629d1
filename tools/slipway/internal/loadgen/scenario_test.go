package loadgen

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/cli"
)

// valid is a create-order run that Validate accepts, for the error cases
// below to break one field at a time.
func valid() Options {
	return Options{Rate: 10, Duration: time.Second, MaxInflight: 8, Timeout: time.Second, Users: 2}.WithDefaults()
}

func TestOptionsWithDefaults(t *testing.T) {
	o := Options{}.WithDefaults()
	assert.Equal(t, ScenarioOrder, o.Scenario)
	assert.Equal(t, "grpc", o.Protocol)
	assert.Equal(t, "127.0.0.1:50051", o.UserAddr)
	assert.Equal(t, "127.0.0.1:50052", o.OrderAddr)
	assert.Equal(t, "127.0.0.1:50053", o.InventoryAddr)
	assert.Equal(t, "127.0.0.1:50054", o.NotificationAddr)
	assert.Equal(t, "127.0.0.1:8082", o.OrderHTTPAddr)
	assert.Equal(t, "{}", o.Data)
	assert.NotNil(t, o.Stderr)
	assert.Empty(t, o.Method, "only the http scenario has a default method")

	h := Options{Scenario: ScenarioHTTP, UserAddr: "127.0.0.1:1"}.WithDefaults()
	assert.Equal(t, http.MethodGet, h.Method)
	assert.Equal(t, "127.0.0.1:1", h.UserAddr, "a given address is kept")
}

func TestOptionsValidate(t *testing.T) {
	require.NoError(t, func() error { o := valid(); return o.Validate() }())

	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"unknown scenario", func(o *Options) { o.Scenario = "soak" }, `--scenario "soak"`},
		{"zero rate", func(o *Options) { o.Rate = 0 }, "--rate 0"},
		{"rate above the cap", func(o *Options) { o.Rate = MaxRate + 1 }, "at most 5000 per second"},
		{"duration above the cap", func(o *Options) { o.Duration = MaxDuration + time.Second }, "--duration"},
		{"no inflight", func(o *Options) { o.MaxInflight = 0 }, "--max-inflight 0"},
		{"negative warmup", func(o *Options) { o.Warmup = -time.Second }, "--warmup"},
		{"timeout above the cap", func(o *Options) { o.Timeout = 2 * MaxTimeout }, "--timeout"},
		{"bad header", func(o *Options) { o.Headers = []string{"no colon"} }, `--header "no colon"`},
		{"no users", func(o *Options) { o.Users = 0 }, "--users 0"},
		{"unknown protocol", func(o *Options) { o.Protocol = "soap" }, `--protocol "soap"`},
		{"remote order address", func(o *Options) { o.OrderAddr = "10.0.0.1:50052" }, "--order-addr"},
		{"rpc without method", func(o *Options) { o.Scenario = ScenarioRPC }, "needs --method"},
		{"rpc on a remote address", func(o *Options) { o.Scenario, o.Method, o.Addr = ScenarioRPC, "x/y", "example.com:1" }, "--addr"},
		{"http without url", func(o *Options) { o.Scenario = ScenarioHTTP }, "needs --url"},
		{"http to a remote url", func(o *Options) { o.Scenario, o.URL = ScenarioHTTP, "http://example.com/" }, "loopback"},
		{"http method in lower case", func(o *Options) {
			o.Scenario, o.URL, o.Method = ScenarioHTTP, "http://127.0.0.1:8083/v1/products", "get"
		}, `--method "get"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid()
			tt.edit(&o)
			err := o.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestOptionsValidateMakesAddressesDialable(t *testing.T) {
	o := valid()
	o.UserAddr, o.OrderAddr = "localhost:50051", ":50052"
	require.NoError(t, o.Validate())
	assert.NotContains(t, o.UserAddr, "localhost", "a name is resolved to its loopback address")
	assert.True(t, strings.HasSuffix(o.UserAddr, ":50051"), o.UserAddr)
	assert.NotEqual(t, ":50052", o.OrderAddr, "an empty host becomes the loopback address")
	assert.True(t, strings.HasSuffix(o.OrderAddr, ":50052"), o.OrderAddr)
}

func TestParseHeaders(t *testing.T) {
	h, err := ParseHeaders([]string{"Authorization: Bearer x", " X-Trace :  a b ", "X-Trace: c"})
	require.NoError(t, err)
	assert.Equal(t, "Bearer x", h.Get("Authorization"))
	assert.Equal(t, []string{"a b", "c"}, h.Values("X-Trace"), "values are trimmed and repeated names kept")

	for _, bad := range []string{"Authorization", ": value", "Two Words: x"} {
		_, err := ParseHeaders([]string{bad})
		assert.Error(t, err, "%q", bad)
	}
}

func TestReadBody(t *testing.T) {
	b, err := readBody(`{"a":1}`)
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, string(b))

	path := filepath.Join(t.TempDir(), "body.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"from":"file"}`), 0o600))
	b, err = readBody("@" + path)
	require.NoError(t, err)
	assert.Equal(t, `{"from":"file"}`, string(b))

	_, err = readBody("@" + filepath.Join(t.TempDir(), "missing.json"))
	assert.ErrorIs(t, err, os.ErrNotExist)

	big := filepath.Join(t.TempDir(), "big.json")
	require.NoError(t, os.WriteFile(big, make([]byte, maxBody+1), 0o600))
	_, err = readBody("@" + big)
	assert.ErrorContains(t, err, "larger than")
	_, err = readBody(strings.Repeat("x", maxBody+1))
	assert.ErrorContains(t, err, "longer than")
}

// Build refuses what the user got wrong as a usage error, so slipway exits 2.
func TestBuildUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"bad header", Options{Scenario: ScenarioHTTP, URL: "http://127.0.0.1:1/", Headers: []string{"nope"}}, "--header"},
		{"unknown method", Options{Scenario: ScenarioRPC, Method: "slipway.inventory.v1.InventoryService/Nope"}, "unknown method"},
		{"near method", Options{Scenario: ScenarioRPC, Method: "ListProducts"}, "did you mean slipway.inventory.v1.InventoryService/ListProducts"},
		{"missing body file", Options{Scenario: ScenarioHTTP, URL: "http://127.0.0.1:1/", Body: "@/nonexistent/body.json"}, "--body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(t.Context(), tt.opts.WithDefaults(), 1)
			require.Error(t, err)
			var usage cli.UsageError
			assert.True(t, errors.As(err, &usage), "want a usage error, got %T: %v", err, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestBuildHTTP(t *testing.T) {
	s, err := Build(t.Context(), Options{Scenario: ScenarioHTTP, URL: "http://127.0.0.1:1/v1/x", Body: `{"a":1}`}.WithDefaults(), 1)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, "GET http://127.0.0.1:1/v1/x", s.Describe)
	ht, ok := s.Target.(*httpTarget)
	require.True(t, ok, "%T", s.Target)
	assert.Equal(t, "application/json", ht.headers.Get("Content-Type"), "a body without a Content-Type is JSON")
}

func TestFormat(t *testing.T) {
	for ms, want := range map[float64]string{0.1234: "0.123", 1.234: "1.23", 12.34: "12.3", 123.4: "123"} {
		assert.Equal(t, want, FormatMS(ms), "%v", ms)
	}
	assert.Equal(t, "2.5", FormatRate(2.5))
	assert.Equal(t, "100", FormatRate(100))
	assert.Equal(t, "a b c", OneLine("a\n  b\tc", 10))
	assert.Equal(t, "abc...", OneLine("abcdef", 3))
}
