package drift

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/slipway-dev/slipway/platform/redact"
	"github.com/slipway-dev/slipway/tools/slipway/internal/workspace"
	"go.yaml.in/yaml/v3"
)

// kubeObject is the part of a Kubernetes object drift reads.
type kubeObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Data       map[string]string `json:"data"`
	StringData map[string]string `json:"stringData"`
	Items      []json.RawMessage `json:"items"`
}

// readKubeObjects reads the ConfigMaps and Secrets of `kubectl get -o json`
// output: a List, or one object.
func readKubeObjects(path string, stdin io.Reader) ([]kubeObject, error) {
	var data []byte
	var err error
	if path == "-" {
		if stdin == nil {
			stdin = os.Stdin
		}
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(path) //nolint:gosec // the operator chooses the file
	}
	if err != nil {
		return nil, fmt.Errorf("--k8s: %w", err)
	}
	var out []kubeObject
	var add func(raw []byte, depth int) error
	add = func(raw []byte, depth int) error {
		var o kubeObject
		if err := json.Unmarshal(raw, &o); err != nil {
			return err
		}
		switch {
		case strings.HasSuffix(o.Kind, "List") && depth == 0:
			for _, item := range o.Items {
				if err := add(item, depth+1); err != nil {
					return err
				}
			}
		case o.Kind == "ConfigMap":
			out = append(out, o)
		case o.Kind == "Secret":
			decoded := make(map[string]string, len(o.Data)+len(o.StringData))
			for k, v := range o.Data {
				b, err := base64.StdEncoding.DecodeString(v)
				if err != nil {
					return fmt.Errorf("secret %s: data %s is not base64", o.Metadata.Name, k)
				}
				decoded[k] = string(b)
			}
			maps.Copy(decoded, o.StringData)
			o.Data, o.StringData = decoded, nil
			out = append(out, o)
		}
		return nil
	}
	if err := add(data, 0); err != nil {
		return nil, fmt.Errorf("--k8s %s: want `kubectl get configmap,secret -o json` output: %w", path, err)
	}
	return out, nil
}

// configMapFile returns the data key of cm that holds svc's config file:
// "<svc>.yaml" (what a kustomize configMapGenerator makes of
// deploy/config/<env>/<svc>.yaml), or the only YAML key of a ConfigMap named
// <svc>-config (with or without the generator's hash suffix).
func configMapFile(cm kubeObject, svc string) (string, bool) {
	for _, k := range []string{svc + ".yaml", svc + ".yml"} {
		if _, ok := cm.Data[k]; ok {
			return k, true
		}
	}
	name := cm.Metadata.Name
	if name != svc+"-config" && !strings.HasPrefix(name, svc+"-config-") {
		return "", false
	}
	var yamlKeys []string
	for k := range cm.Data {
		if strings.HasSuffix(k, ".yaml") || strings.HasSuffix(k, ".yml") {
			yamlKeys = append(yamlKeys, k)
		}
	}
	if len(yamlKeys) != 1 {
		return "", false
	}
	return yamlKeys[0], true
}

// secretOwner is the service a Secret belongs to: its
// app.kubernetes.io/name label (as deploy/k8s's generators set it), else its
// name (<svc>, <svc>-secrets-<hash>); "" for a Secret every service may read.
func secretOwner(sec kubeObject) string {
	for _, s := range workspace.Known {
		if sec.Metadata.Labels["app.kubernetes.io/name"] == s.Name {
			return s.Name
		}
	}
	for _, s := range workspace.Known {
		if sec.Metadata.Name == s.Name || strings.HasPrefix(sec.Metadata.Name, s.Name+"-") {
			return s.Name
		}
	}
	return ""
}

func kubeObjectName(o kubeObject) string {
	if o.Metadata.Namespace != "" {
		return o.Metadata.Namespace + "/" + o.Metadata.Name
	}
	return o.Metadata.Name
}

// compareK8s compares the ConfigMaps with the declared files and the
// Secrets with the running services.
func (d *drifter) compareK8s(svcs []*subject, objects []kubeObject, noRunning bool) {
	seen := map[string]bool{}
	for _, o := range objects {
		if o.Kind != "ConfigMap" {
			continue
		}
		for _, s := range svcs {
			if file, ok := configMapFile(o, s.name); ok {
				seen[s.name] = true
				d.compareConfigMap(s, o, file)
			}
		}
	}
	for _, s := range svcs {
		if !seen[s.name] {
			d.note("%s: no ConfigMap in the --k8s input holds %s.yaml", s.name, s.name)
		}
	}
	// A Secret that carries the deployment's fingerprint key gives it to
	// the services it belongs to: their secrets compare under it.
	for _, o := range objects {
		key := strings.TrimSpace(o.Data["CONFIG_FINGERPRINT_KEY"])
		if o.Kind != "Secret" || key == "" {
			continue
		}
		owner := secretOwner(o)
		for _, s := range svcs {
			if s.fp == nil && (owner == "" || owner == s.name) {
				fp := redact.NewFingerprinter([]byte(key))
				s.fp = &fp
			}
		}
	}
	for _, o := range objects {
		if o.Kind == "Secret" {
			d.compareSecret(svcs, o, noRunning)
		}
	}
}

// compareConfigMap compares the declared keys of s with the config file
// the ConfigMap cm holds under file.
func (d *drifter) compareConfigMap(s *subject, cm kubeObject, file string) {
	obj := kubeObjectName(cm) + ":" + file
	found, err := flattenConfigYAML([]byte(cm.Data[file]))
	if err != nil {
		d.add(Row{Service: s.name, Source: sourceConfigMap, Object: obj, Key: "-", Status: statusFailed, Note: err.Error()})
		return
	}
	keys := slices.Sorted(maps.Keys(s.declared))
	for k := range found {
		if _, ok := s.declared[k]; !ok {
			keys = append(keys, k)
		}
	}
	for _, key := range keys {
		f := s.schema.field(key)
		row := Row{Service: s.name, Source: sourceConfigMap, Object: obj, Key: key}
		d.add(d.configMapRow(row, f, s.declared[key], found[key]))
		if _, inMap := found[key]; f.Secret && inMap {
			d.note("%s: %s is a secret in a ConfigMap; secrets belong in Secrets", obj, key)
		}
	}
}

// configMapRow completes row from the declared leaf dn and the ConfigMap's
// fn of one key; either may be nil (not declared, not in the ConfigMap).
func (d *drifter) configMapRow(row Row, f configField, dn, fn *yaml.Node) Row {
	// Both sides are YAML: a key of unknown type is typed by the tags
	// of the declared side, so "15m" and "900s" compare equal.
	var want, got any
	var wantErr, gotErr error
	if dn != nil {
		want, wantErr = normConfigYAML(dn, f, nil, &d.local)
		if wantErr != nil {
			want = rawConfigNode(dn)
		}
		row.Declared = shown(f, want)
	}
	if fn != nil {
		hint := any(nil)
		if dn != nil && wantErr == nil {
			hint = want
		}
		got, gotErr = normConfigYAML(fn, f, hint, &d.local)
		if gotErr != nil {
			got = rawConfigNode(fn)
		}
		row.Found = shown(f, got)
	}
	switch {
	case fn == nil:
		row.Status, row.Note = statusMissing, "declared but not in the ConfigMap"
	case dn == nil:
		row.Status, row.Note = statusExtra, "in the ConfigMap but not declared"
	case wantErr != nil:
		row.Status, row.Note = statusInvalid, "declared value: "+wantErr.Error()
	case gotErr != nil:
		row.Status, row.Note = statusDiffers, "ConfigMap value: "+gotErr.Error()
	case reflect.DeepEqual(want, got):
		row.Status = statusSame
	default:
		row.Status = statusDiffers
	}
	return row
}

// compareSecret compares each value of a Secret, by hash, with the config
// key of the environment variable it sets in the running service.
func (d *drifter) compareSecret(svcs []*subject, sec kubeObject, noRunning bool) {
	owner := secretOwner(sec)
	obj := kubeObjectName(sec)
	for _, env := range slices.Sorted(maps.Keys(sec.Data)) {
		matched := false
		for _, s := range svcs {
			if owner != "" && owner != s.name {
				continue
			}
			var f configField
			var ok bool
			if s.schema != nil {
				f, ok = s.schema.byEnv[env]
			}
			if !ok {
				if owner == s.name {
					d.add(Row{Service: s.name, Source: sourceSecret, Object: obj, Key: "-", Env: env, Status: statusUnmapped,
						Note: "no config key of " + s.name + " reads this variable"})
					matched = true
				}
				continue
			}
			matched = true
			row := Row{Service: s.name, Source: sourceSecret, Object: obj, Key: f.Key, Env: env, Declared: secretShown}
			d.add(d.secretRow(row, s, sec.Data[env], noRunning))
		}
		if !matched && owner == "" {
			d.note("secret %s: %s is no config key of %s", obj, env, strings.Join(subjectNames(svcs), ", "))
		}
	}
}

// secretRow completes row, the Secret's value for the variable row.Env,
// from what the running service s reports for its config key row.Key.
func (d *drifter) secretRow(row Row, s *subject, value string, noRunning bool) Row {
	got, inRunning := s.running[row.Key]
	switch {
	case strings.TrimSpace(value) == "":
		row.Status, row.Note = statusUnchecked, "empty: counts as unset"
		return row
	case s.running == nil:
		row.Status, row.Note = statusUnchecked, "the running service was not read"
		if noRunning {
			row.Note = "--no-running"
		}
		return row
	case !inRunning:
		row.Status, row.Note = statusMissing, "the running service does not report "+row.Key
		return row
	}
	// Secret values are sensitive whatever the key: none is printed.
	row.Found = secretShown
	plain := s.schema.byEnv[row.Env] // unredacted form: how the service shows this key
	want, err := normConfigEnv(value, plain, got, d.fingerprinter(s))
	switch {
	case errors.Is(err, errNoKey):
		row.Found = nil
		row.Status, row.Note = statusUnchecked, err.Error()
	case err != nil:
		row.Status, row.Note = statusInvalid, "the value is "+err.Error()
	case reflect.DeepEqual(want, got):
		row.Status = statusSame
	default:
		row.Status = statusDiffers
	}
	if plain.URL && !plain.Secret && row.Status == statusSame {
		row.Note = "compared with the password masked"
	}
	return row
}

func subjectNames(svcs []*subject) []string {
	names := make([]string, len(svcs))
	for i, s := range svcs {
		names[i] = s.name
	}
	return names
}
