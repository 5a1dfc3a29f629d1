package drift

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/slipway-dev/slipway/platform/redact"
)

// leaf parses one YAML document "v: <value>" and returns the leaf of v.
func leaf(t *testing.T, value string) *yaml.Node {
	t.Helper()
	flat, err := flattenConfigYAML([]byte("v: " + value + "\n"))
	require.NoError(t, err)
	require.Contains(t, flat, "v")
	return flat["v"]
}

func TestFlattenConfigYAML(t *testing.T) {
	flat, err := flattenConfigYAML([]byte("base: &b {a: 1}\nx:\n  y: 2\n  z: [p, q]\nalias: *b\n"))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"base.a", "x.y", "x.z", "alias.a"}, keys(flat), "nested keys are dotted, aliases followed")
	assert.Equal(t, "2", flat["x.y"].Value)

	for _, empty := range []string{"", "# only a comment\n", "~\n"} {
		flat, err := flattenConfigYAML([]byte(empty))
		require.NoError(t, err, "%q", empty)
		assert.Empty(t, flat, "%q has no keys", empty)
	}

	_, err = flattenConfigYAML([]byte("- a\n- b\n"))
	assert.EqualError(t, err, "want a mapping of keys at the top level")
	_, err = flattenConfigYAML([]byte("x:\n  y: 1\nx.y: 2\n"))
	assert.EqualError(t, err, `line 3: key "x.y" repeated`, "a dotted key and a nested one are the same key")
	_, err = flattenConfigYAML([]byte("a: [\n"))
	assert.Error(t, err, "not YAML")
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestNormConfigYAML(t *testing.T) {
	fp := redact.NewFingerprinter([]byte("k"))
	tests := []struct {
		name    string
		value   string
		field   configField
		hint    any
		want    any
		wantErr string
	}{
		{name: "duration in its canonical form", value: "90s", field: configField{Kind: configKindDuration}, want: "1m30s"},
		{name: "bool", value: "true", field: configField{Kind: configKindBool}, want: true},
		{name: "number", value: "10", field: configField{Kind: configKindNumber}, want: float64(10)},
		{name: "list", value: "[a, b]", field: configField{Kind: configKindList}, want: []any{"a", "b"}},
		{name: "null is the kind's zero", value: "~", field: configField{Kind: configKindDuration}, want: "0s"},
		{name: "null list", value: "null", field: configField{Kind: configKindList}, want: []any{}},
		{name: "unknown kind typed by the value found", value: "15m", hint: "900s", want: "15m0s"},
		{name: "unknown kind of a string found", value: "15m", hint: "x", want: "15m"},
		{name: "URL password masked", value: "postgres://u:pw@db/x", field: configField{Kind: configKindString, URL: true}, want: "postgres://u:" + redact.Mask + "@db/x"},
		{name: "secret fingerprinted", value: "hunter2", field: configField{Kind: configKindString, Secret: true}, want: fp.Secret("hunter2")},
		{name: "not a duration", value: "soon", field: configField{Kind: configKindDuration}, wantErr: "not a duration"},
		{name: "not a bool", value: "yes please", field: configField{Kind: configKindBool}, wantErr: "not a bool"},
		{name: "not a number", value: "ten", field: configField{Kind: configKindNumber}, wantErr: "not a number"},
		{name: "a scalar for a list", value: "a", field: configField{Kind: configKindList}, wantErr: "want a list"},
		{name: "a list of lists", value: "[[a]]", field: configField{Kind: configKindList}, wantErr: "want a list of strings"},
		{name: "a list for a scalar", value: "[a]", field: configField{Kind: configKindString}, wantErr: "want a single value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := normConfigYAML(leaf(t, tt.value), tt.field, tt.hint, &fp)
			if tt.wantErr != "" {
				assert.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSecretsNeedAFingerprinter(t *testing.T) {
	_, err := normConfigYAML(leaf(t, "hunter2"), configField{Secret: true}, nil, nil)
	require.ErrorIs(t, err, errNoKey)
	_, err = normConfigEnv("hunter2", configField{Secret: true}, nil, nil)
	require.ErrorIs(t, err, errNoKey)
	got, err := redactConfigValue(configField{URL: true}, []any{"redis://:pw@r:6379", "nats://n:4222"}, nil)
	require.NoError(t, err, "masking a URL needs no key")
	assert.Equal(t, []any{"redis://:" + redact.Mask + "@r:6379", "nats://n:4222"}, got)
}

func TestNormConfigEnv(t *testing.T) {
	got, err := normConfigEnv(" a, ,b ", configField{Kind: configKindList}, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, []any{"a", "b"}, got, "a list variable is comma-separated, blanks dropped")

	got, err = normConfigEnv("a,b", configField{}, []any{"x"}, nil)
	require.NoError(t, err)
	assert.Equal(t, []any{"a", "b"}, got, "a list found makes an unknown key a list")

	got, err = normConfigEnv(" 42 ", configField{}, float64(1), nil)
	require.NoError(t, err)
	assert.Equal(t, float64(42), got)

	_, err = normConfigEnv("maybe", configField{}, true, nil)
	assert.ErrorContains(t, err, "not a bool")
}

func TestShownHidesSecrets(t *testing.T) {
	assert.Equal(t, secretShown, shown(configField{Secret: true}, "hmac-sha256:ab"))
	assert.Nil(t, shown(configField{Secret: true}, nil), "nothing found stays nothing")
	assert.Equal(t, "x", shown(configField{}, "x"))
}

func TestDisplay(t *testing.T) {
	assert.Equal(t, "-", display(nil))
	assert.Equal(t, `""`, display(""))
	assert.Equal(t, "1.5", display(1.5))
	assert.Equal(t, "3", display(float64(3)))
	assert.Equal(t, "false", display(false))
	assert.Equal(t, `["a","b"]`, display([]any{"a", "b"}))
	assert.Equal(t, "5m0s", display("5m0s"))
}
