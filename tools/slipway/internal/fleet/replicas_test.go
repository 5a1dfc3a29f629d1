package fleet

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/envvar"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
)

func TestParseReplicas(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]int
		err  string
	}{
		{in: "", want: map[string]int{}},
		{in: "order=2", want: map[string]int{"order": 2}},
		{in: " order=2 , inventory=3 ", want: map[string]int{"order": 2, "inventory": 3}},
		{in: "order=1", want: map[string]int{"order": 1}},
		{in: "order", err: `"order" is not SVC=N, such as order=2`},
		{in: "order=", err: `"order=" is not SVC=N`},
		{in: "=2", err: `"=2" is not SVC=N`},
		{in: "order=2,", err: `"" is not SVC=N`},
		{in: "order=two", err: "order=two: N is not a number"},
		{in: "order=0", err: "order=0: want 1 to 9 instances"},
		{in: "order=10", err: "order=10: want 1 to 9 instances"},
		{in: "order=2,order=3", err: "order is given twice"},
		{in: "billing=2", err: `unknown service "billing"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseReplicas(tt.in)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				assert.Contains(t, err.Error(), "--replicas")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestValidateReplicas(t *testing.T) {
	ok := Options{Replicas: map[string]int{"order": 2}}.WithDefaults()
	require.NoError(t, ok.Validate())

	notRunning := Options{Services: []string{"user", "inventory"}, Replicas: map[string]int{"order": 2}}.WithDefaults()
	assert.ErrorContains(t, notRunning.Validate(), "--replicas: order does not run (--services user,inventory)")

	tooMany := Options{Replicas: map[string]int{"order": 12}}.WithDefaults()
	assert.ErrorContains(t, tooMany.Validate(), "--replicas: order=12: want 1 to 9 instances")

	// The last instance's ports must fit too.
	alone := Options{GRPCBase: 65500}.WithDefaults()
	require.NoError(t, alone.Validate())
	high := Options{GRPCBase: 65500, Replicas: map[string]int{"order": 2}}.WithDefaults()
	assert.ErrorContains(t, high.Validate(), "--grpc-port-base 65500")
}

func TestPlanWithReplicas(t *testing.T) {
	defs := []workspace.Service{workspace.Known[0], workspace.Known[1], workspace.Known[2]} // user, order, inventory
	opts := Options{Environ: []string{"PATH=/bin"}, Replicas: map[string]int{"order": 2, "inventory": 2}}.WithDefaults()
	plan, err := Plan("/ws", defs, opts)
	require.NoError(t, err)

	var names []string
	byName := map[string]Service{}
	for _, s := range plan {
		names = append(names, s.Name)
		byName[s.Name] = s
	}
	assert.Equal(t, []string{"user", "order-1", "order-2", "inventory-1", "inventory-2"}, names)
	assert.Equal(t, "user", byName["user"].Of)
	assert.Equal(t, "order", byName["order-2"].Of)

	o1, o2 := byName["order-1"], byName["order-2"]
	assert.Equal(t, "127.0.0.1:50052", o1.GRPCAddr, "the first instance keeps the service's ports")
	assert.Equal(t, "127.0.0.1:8082", o1.HTTPAddr)
	assert.Equal(t, "127.0.0.1:50152", o2.GRPCAddr)
	assert.Equal(t, "127.0.0.1:8182", o2.HTTPAddr)
	assert.Equal(t, o1.Binary, o2.Binary, "every instance runs the service's binary")
	for _, s := range []Service{o1, o2} {
		got, _ := envvar.Lookup(s.Env, "GRPC_ADDR")
		assert.Equal(t, s.GRPCAddr, got)
		got, _ = envvar.Lookup(s.Env, "DATABASE_URL")
		assert.Equal(t, "sqlite:///ws/.slipway/data/order.db", got, "the instances share their service's database")
		got, _ = envvar.Lookup(s.Env, "INVENTORY_ADDR")
		assert.Equal(t, "127.0.0.1:50053,127.0.0.1:50153", got, "a peer with replicas is dialled at every instance")
		got, _ = envvar.Lookup(s.Env, "PAYMENT_ADDR")
		assert.Equal(t, "127.0.0.1:50055", got, "a peer without replicas is dialled as before")
	}
	assert.Empty(t, duplicateAddrs(Endpoints(plan, opts)))
}

func TestReplicasOfAServiceThatDoesNotRunChangeNoAddress(t *testing.T) {
	defs := []workspace.Service{workspace.Known[1]} // order alone
	plan, err := Plan("/ws", defs, Options{Environ: []string{}, Replicas: map[string]int{"inventory": 2}}.WithDefaults())
	require.NoError(t, err)
	got, _ := envvar.Lookup(plan[0].Env, "INVENTORY_ADDR")
	assert.Equal(t, "127.0.0.1:50053", got)
}

func TestServiceOf(t *testing.T) {
	for in, want := range map[string]string{
		"order": "order", "order-1": "order", "order-2": "order", "order-10": "order-10",
		"order-0": "order-0", "order-02": "order-02", "billing-2": "billing-2", "slipway": "slipway",
	} {
		assert.Equal(t, want, ServiceOf(in), in)
	}
	assert.Equal(t, "order", InstanceName("order", 1, 1))
	assert.Equal(t, "order-2", InstanceName("order", 2, 3))
}

// duplicateAddrs returns the addresses listed more than once.
func duplicateAddrs(eps []workspace.Endpoint) []string {
	seen, dup := map[string]bool{}, []string{}
	for _, e := range eps {
		if seen[e.Addr] {
			dup = append(dup, e.Addr)
		}
		seen[e.Addr] = true
	}
	return dup
}
