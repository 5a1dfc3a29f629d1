package drift

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

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
