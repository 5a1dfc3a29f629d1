package faults

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
