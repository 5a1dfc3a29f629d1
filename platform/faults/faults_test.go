package faults

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/slipway-dev/slipway/platform/errkind"
)

func TestDisabledInjectorNeverInjects(t *testing.T) {
	inj := New(false)
	require.Error(t, inj.Set([]Rule{{Method: "*", Code: codes.Unavailable, Rate: 1}}))
	assert.NoError(t, inj.Apply(context.Background(), "/a.B/C"))
}

func TestApplyMatchesRulesByMethod(t *testing.T) {
	tests := []struct {
		name   string
		rule   Rule
		method string
		want   codes.Code
	}{
		{"exact method", Rule{Method: "/a.B/C", Code: codes.Unavailable, Rate: 1}, "/a.B/C", codes.Unavailable},
		{"other method", Rule{Method: "/a.B/C", Code: codes.Unavailable, Rate: 1}, "/a.B/D", codes.OK},
		{"service prefix", Rule{Method: "/a.B/", Code: codes.Internal, Rate: 1}, "/a.B/D", codes.Internal},
		{"wildcard", Rule{Method: "*", Code: codes.Aborted, Rate: 1}, "/x.Y/Z", codes.Aborted},
		{"rate zero", Rule{Method: "*", Code: codes.Aborted, Rate: 0}, "/x.Y/Z", codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inj := New(true)
			require.NoError(t, inj.Set([]Rule{tt.rule}))
			err := inj.Apply(context.Background(), tt.method)
			assert.Equal(t, tt.want, status.Code(err))
		})
	}
}

func TestApplyInjectsAtTheConfiguredRate(t *testing.T) {
	inj := New(true)
	draws := []float64{0.1, 0.5, 0.39, 0.9, 0.41}
	inj.rand = func() float64 { v := draws[0]; draws = draws[1:]; return v }
	require.NoError(t, inj.Set([]Rule{{Method: "*", Code: codes.Unavailable, Rate: 0.4}}))

	var failed int
	for range 5 {
		if inj.Apply(context.Background(), "/a.B/C") != nil {
			failed++
		}
	}
	assert.Equal(t, 2, failed, "draws 0.1 and 0.39 fall under 0.4")
}

func TestDelayRespectsTheCallerDeadline(t *testing.T) {
	inj := New(true)
	require.NoError(t, inj.Set([]Rule{{Method: "*", Delay: time.Hour}}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()

	err := inj.Apply(ctx, "/a.B/C")
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
}

func TestSetRejectsInvalidRules(t *testing.T) {
	inj := New(true)
	for _, r := range []Rule{
		{Method: "", Code: codes.Internal, Rate: 1},
		{Method: "*", Code: codes.Internal, Rate: 1.5},
		{Method: "*", Delay: -time.Second},
		{Method: "*"},
	} {
		assert.Error(t, inj.Set([]Rule{r}), "%+v", r)
	}
	assert.Empty(t, inj.Rules())
}

func TestRuleJSONUsesCodeNamesAndDurationStrings(t *testing.T) {
	tests := []struct {
		name string
		rule Rule
		json string
	}{
		{"error and delay", Rule{Method: "/slipway.inventory.v1.InventoryService/", Code: codes.Unavailable, Rate: 0.4, Delay: 150 * time.Millisecond},
			`{"method":"/slipway.inventory.v1.InventoryService/","code":"UNAVAILABLE","rate":0.4,"delay":"150ms"}`},
		{"delay only", Rule{Method: "*", Delay: 2 * time.Second}, `{"method":"*","rate":0,"delay":"2s"}`},
		{"error only", Rule{Method: "/a.B/C", Code: codes.Canceled, Rate: 1}, `{"method":"/a.B/C","code":"CANCELLED","rate":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			encoded, err := json.Marshal(tt.rule)
			require.NoError(t, err)
			assert.JSONEq(t, tt.json, string(encoded))

			var decoded Rule
			require.NoError(t, json.Unmarshal(encoded, &decoded))
			assert.Equal(t, tt.rule, decoded)
		})
	}
}

func TestRuleJSONRejectsWhatItCannotRead(t *testing.T) {
	tests := []struct {
		name, json, field string
	}{
		{"unknown code", `{"method":"*","code":"BROKEN","rate":1}`, "code"},
		{"numeric code", `{"method":"*","code":14,"rate":1}`, "code"},
		{"delay without unit", `{"method":"*","delay":"150"}`, "delay"},
		{"delay as number", `{"method":"*","delay":150}`, "delay"},
		{"rate as string", `{"method":"*","code":"INTERNAL","rate":"high"}`, "rate"},
		{"unknown key", `{"method":"*","code":"INTERNAL","rate":1,"ratio":1}`, "ratio"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Rule
			err := json.Unmarshal([]byte(tt.json), &r)
			var fe *errkind.FieldError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.field, fe.Field)
			assert.ErrorIs(t, err, errkind.Invalid)
		})
	}
	t.Run("lower-case code names are read", func(t *testing.T) {
		var r Rule
		require.NoError(t, json.Unmarshal([]byte(`{"method":"*","code":"resource_exhausted","rate":0.5}`), &r))
		assert.Equal(t, codes.ResourceExhausted, r.Code)
	})
}

func TestValidateNamesTheFieldAtFault(t *testing.T) {
	tests := []struct {
		rule  Rule
		field string
	}{
		{Rule{Code: codes.Internal, Rate: 1}, "method"},
		{Rule{Method: "Reserve", Code: codes.Internal, Rate: 1}, "method"},
		{Rule{Method: "*", Code: codes.Internal, Rate: 1.5}, "rate"},
		{Rule{Method: "*", Code: codes.Internal, Rate: -0.1}, "rate"},
		{Rule{Method: "*", Delay: -time.Second}, "delay"},
		{Rule{Method: "*"}, "code"},
		{Rule{Method: "*", Code: codes.Code(99), Rate: 1}, "code"},
	}
	for _, tt := range tests {
		var fe *errkind.FieldError
		require.ErrorAs(t, tt.rule.Validate(), &fe, "%+v", tt.rule)
		assert.Equal(t, tt.field, fe.Field, "%+v", tt.rule)
	}
	assert.NoError(t, Rule{Method: "/a.B/", Code: codes.Unavailable, Rate: 0.4}.Validate())
}

func TestSetNilClearsTheRules(t *testing.T) {
	inj := New(true)
	require.NoError(t, inj.Set([]Rule{{Method: "*", Code: codes.Unavailable, Rate: 1}}))
	require.Error(t, inj.Apply(context.Background(), "/a.B/C"))
	require.NoError(t, inj.Set(nil))
	assert.Empty(t, inj.Rules())
	assert.NoError(t, inj.Apply(context.Background(), "/a.B/C"))
}
