package drift

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadKubeObjects(t *testing.T) {
	list := `{"kind": "List", "items": [
	  {"kind": "ConfigMap", "metadata": {"name": "user-config", "namespace": "shop"}, "data": {"user.yaml": "a: 1\n"}},
	  {"kind": "Secret", "metadata": {"name": "user-secrets"}, "data": {"ADMIN_PASSWORD": "aHVudGVyMg=="}, "stringData": {"EXTRA": "plain"}},
	  {"kind": "Deployment", "metadata": {"name": "user"}},
	  {"kind": "List", "items": [{"kind": "ConfigMap", "metadata": {"name": "nested"}}]}
	]}`
	objects, err := readKubeObjects("-", strings.NewReader(list))
	require.NoError(t, err)
	require.Len(t, objects, 2, "ConfigMaps and Secrets of the top-level list only")
	assert.Equal(t, "shop/user-config", kubeObjectName(objects[0]))
	assert.Equal(t, "a: 1\n", objects[0].Data["user.yaml"])
	assert.Equal(t, "user-secrets", kubeObjectName(objects[1]))
	assert.Equal(t, map[string]string{"ADMIN_PASSWORD": "hunter2", "EXTRA": "plain"}, objects[1].Data, "data decoded, stringData merged")
	assert.Nil(t, objects[1].StringData)

	one := filepath.Join(t.TempDir(), "cm.json")
	require.NoError(t, os.WriteFile(one, []byte(`{"kind": "ConfigMap", "metadata": {"name": "x"}}`), 0o644))
	objects, err = readKubeObjects(one, nil)
	require.NoError(t, err)
	require.Len(t, objects, 1, "a single object is read too")

	tests := []struct {
		name, path, input, want string
	}{
		{"not base64", "-", `{"kind": "Secret", "metadata": {"name": "s"}, "data": {"K": "%%%"}}`, "secret s: data K is not base64"},
		{"not JSON", "-", `kind: Secret`, "want `kubectl get configmap,secret -o json` output"},
		{"no such file", filepath.Join(t.TempDir(), "nope.json"), "", "--k8s: open"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readKubeObjects(tt.path, strings.NewReader(tt.input))
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestConfigMapFile(t *testing.T) {
	cm := func(name string, keys ...string) kubeObject {
		var o kubeObject
		o.Metadata.Name, o.Data = name, map[string]string{}
		for _, k := range keys {
			o.Data[k] = ""
		}
		return o
	}
	tests := []struct {
		name string
		cm   kubeObject
		want string // "" is no file of user
	}{
		{"the service's file by name", cm("anything", "order.yaml", "user.yaml"), "user.yaml"},
		{"yml spelling", cm("anything", "user.yml"), "user.yml"},
		{"the one YAML key of <svc>-config", cm("user-config", "config.yaml", "README"), "config.yaml"},
		{"with the generator's hash", cm("user-config-5f7g8h", "settings.yml"), "settings.yml"},
		{"two YAML keys are ambiguous", cm("user-config", "a.yaml", "b.yaml"), ""},
		{"another service's ConfigMap", cm("order-config", "config.yaml"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := configMapFile(tt.cm, "user")
			assert.Equal(t, tt.want != "", ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSecretOwner(t *testing.T) {
	sec := func(name string, labels map[string]string) kubeObject {
		var o kubeObject
		o.Metadata.Name, o.Metadata.Labels = name, labels
		return o
	}
	assert.Equal(t, "order", secretOwner(sec("shared", map[string]string{"app.kubernetes.io/name": "order"})), "the label wins")
	assert.Equal(t, "order", secretOwner(sec("user-secrets", map[string]string{"app.kubernetes.io/name": "order"})), "over the name")
	assert.Equal(t, "user", secretOwner(sec("user-secrets-7c9d", nil)))
	assert.Equal(t, "inventory", secretOwner(sec("inventory", nil)))
	assert.Empty(t, secretOwner(sec("platform-keys", map[string]string{"app.kubernetes.io/name": "billing"})), "every service may read it")
}

func TestDebugConfigURL(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: ":8081", want: "http://127.0.0.1:8081/debug/config"},
		{in: "user:8081", want: "http://user:8081/debug/config"},
		{in: "https://shop.example/user/", want: "https://shop.example/user/debug/config"},
		{in: "8081", wantErr: "missing port"},
		{in: "ftp://host", wantErr: "want host:port or an http(s) URL"},
		{in: "http://", wantErr: "want host:port or an http(s) URL"},
	}
	for _, tt := range tests {
		got, err := debugConfigURL(tt.in)
		if tt.wantErr != "" {
			assert.ErrorContains(t, err, tt.wantErr, tt.in)
			continue
		}
		require.NoError(t, err, tt.in)
		assert.Equal(t, tt.want, got)
	}
}

func TestReadDeclaredConfigOutsideGit(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "user.yaml")
	require.NoError(t, os.WriteFile(path, []byte("a: 1\n"), 0o644))
	data, origin, notes, err := readDeclaredConfig(t.Context(), path)
	require.NoError(t, err)
	assert.Equal(t, "a: 1\n", string(data))
	assert.Equal(t, "working tree", origin)
	require.Len(t, notes, 1)
	assert.Contains(t, notes[0], "not read from git")

	_, _, _, err = readDeclaredConfig(t.Context(), filepath.Join(dir, "order.yaml"))
	require.ErrorIs(t, err, os.ErrNotExist, "neither in git nor on disk")
	assert.Contains(t, err.Error(), "not in git")
}

// secretSubject is the user service as compareSecret sees it: a schema
// mapping variables to keys, and what the running service reported.
func secretSubject(running map[string]any) *subject {
	return &subject{
		name: "user", info: &Service{},
		schema: &configSchema{byEnv: map[string]configField{
			"ADMIN_PASSWORD": {Key: "admin_password", Env: "ADMIN_PASSWORD", Kind: configKindString, Secret: true},
			"DATABASE_URL":   {Key: "database_url", Env: "DATABASE_URL", Kind: configKindString, URL: true},
			"TOKEN_TTL":      {Key: "token_ttl", Env: "TOKEN_TTL", Kind: configKindDuration},
		}},
		running: running,
	}
}

func TestCompareSecret(t *testing.T) {
	fp := redact.NewFingerprinter([]byte("deployment-key"))
	var sec kubeObject
	sec.Kind, sec.Metadata.Name = "Secret", "user-secrets"
	sec.Data = map[string]string{
		"ADMIN_PASSWORD": "hunter2",
		"DATABASE_URL":   "postgres://app:pw@db/user",
		"TOKEN_TTL":      "soon",
		"UNUSED":         "x",
		"EMPTY_ONE":      "",
	}
	s := secretSubject(map[string]any{
		"admin_password": fp.Secret("hunter2"),
		"database_url":   "postgres://app:" + redact.Mask + "@db/user",
		"token_ttl":      "1h0m0s",
	})
	d := &drifter{fp: &fp}
	d.compareSecret([]*subject{s}, sec, false)
	rows := map[string]Row{}
	for _, r := range d.report.Rows {
		rows[r.Env] = r
		if r.Key != "-" {
			assert.Equal(t, secretShown, r.Declared, "no Secret value is ever shown")
		}
	}
	assert.Equal(t, statusSame, rows["ADMIN_PASSWORD"].Status, "the same password under the deployment's key")
	assert.Equal(t, statusSame, rows["DATABASE_URL"].Status)
	assert.Equal(t, "compared with the password masked", rows["DATABASE_URL"].Note)
	assert.Equal(t, statusInvalid, rows["TOKEN_TTL"].Status)
	assert.Equal(t, "the value is not a duration", rows["TOKEN_TTL"].Note)
	assert.Equal(t, statusUnmapped, rows["UNUSED"].Status, "the owner's Secret names a variable no key reads")
	assert.False(t, rows["UNUSED"].Drift)

	s = secretSubject(map[string]any{})
	d = &drifter{}
	d.compareSecret([]*subject{s}, sec, false)
	for _, r := range d.report.Rows {
		rows[r.Env] = r
	}
	assert.Equal(t, statusMissing, rows["ADMIN_PASSWORD"].Status, "the running service does not report the key")

	s = secretSubject(map[string]any{"admin_password": fp.Secret("hunter2")})
	d = &drifter{}
	sec.Data = map[string]string{"ADMIN_PASSWORD": "hunter2", "EMPTY": " "}
	s.schema.byEnv["EMPTY"] = configField{Key: "empty", Env: "EMPTY"}
	d.compareSecret([]*subject{s}, sec, false)
	for _, r := range d.report.Rows {
		rows[r.Env] = r
	}
	assert.Equal(t, statusUnchecked, rows["ADMIN_PASSWORD"].Status, "no fingerprint key: cannot judge")
	assert.Nil(t, rows["ADMIN_PASSWORD"].Found)
	assert.Equal(t, statusUnchecked, rows["EMPTY"].Status)
	assert.Equal(t, "empty: counts as unset", rows["EMPTY"].Note)

	d = &drifter{}
	d.compareSecret([]*subject{secretSubject(nil)}, sec, true)
	assert.Equal(t, "--no-running", d.report.Rows[0].Note, "nothing running to compare with")
}

func TestCompareSecretOfNoService(t *testing.T) {
	var sec kubeObject
	sec.Kind, sec.Metadata.Name = "Secret", "shared"
	sec.Data = map[string]string{"SOMETHING_ELSE": "v"}
	d := &drifter{}
	d.compareSecret([]*subject{secretSubject(nil), {name: "order", info: &Service{}}}, sec, true)
	assert.Empty(t, d.report.Rows, "an unowned Secret's foreign variable is nobody's key")
	assert.Equal(t, []string{"secret shared: SOMETHING_ELSE is no config key of user, order"}, d.report.Notes)
}

func TestCompareK8sTakesTheKeyFromASecret(t *testing.T) {
	fp := redact.NewFingerprinter([]byte("from-the-secret"))
	var sec kubeObject
	sec.Kind, sec.Metadata.Name = "Secret", "user-secrets"
	sec.Data = map[string]string{"CONFIG_FINGERPRINT_KEY": "from-the-secret", "ADMIN_PASSWORD": "hunter2"}
	s := secretSubject(map[string]any{"admin_password": fp.Secret("hunter2")})
	s.schema.byEnv["CONFIG_FINGERPRINT_KEY"] = configField{Key: "fingerprint_key", Env: "CONFIG_FINGERPRINT_KEY", Secret: true}
	s.running["fingerprint_key"] = fp.Secret("from-the-secret")
	d := &drifter{}
	d.compareK8s([]*subject{s}, []kubeObject{sec}, false)
	require.Len(t, d.report.Rows, 2)
	for _, r := range d.report.Rows {
		assert.Equal(t, statusSame, r.Status, "%s compares under the Secret's key", r.Env)
	}
	assert.Equal(t, []string{"user: no ConfigMap in the --k8s input holds user.yaml"}, d.report.Notes)
}

func TestConfigMapRows(t *testing.T) {
	declared, err := flattenConfigYAML([]byte("log_level: info\nttl: 15m\nlimit: ten\ngone: x\n"))
	require.NoError(t, err)
	s := &subject{name: "user", info: &Service{}, declared: declared,
		schema: &configSchema{byKey: map[string]configField{
			"limit": {Key: "limit", Kind: configKindNumber},
			"ttl":   {Key: "ttl", Kind: configKindDuration},
		}}}
	var cm kubeObject
	cm.Kind, cm.Metadata.Name = "ConfigMap", "user-config"
	cm.Data = map[string]string{"user.yaml": "log_level: debug\nttl: 900s\nlimit: 3\nextra: 1\n"}
	d := &drifter{local: redact.RandomFingerprinter()}
	d.compareConfigMap(s, cm, "user.yaml")
	rows := map[string]Row{}
	for _, r := range d.report.Rows {
		rows[r.Key] = r
		assert.Equal(t, "user-config:user.yaml", r.Object)
	}
	assert.Equal(t, statusDiffers, rows["log_level"].Status)
	assert.Equal(t, statusSame, rows["ttl"].Status, "15m and 900s are the same duration")
	assert.Equal(t, statusInvalid, rows["limit"].Status)
	assert.Equal(t, "declared value: not a number", rows["limit"].Note)
	assert.Equal(t, statusMissing, rows["gone"].Status)
	assert.Equal(t, statusExtra, rows["extra"].Status)

	cm.Data["user.yaml"] = "- not a mapping\n"
	d = &drifter{}
	d.compareConfigMap(s, cm, "user.yaml")
	require.Len(t, d.report.Rows, 1)
	assert.Equal(t, statusFailed, d.report.Rows[0].Status, "an unreadable ConfigMap is an error row")
}
