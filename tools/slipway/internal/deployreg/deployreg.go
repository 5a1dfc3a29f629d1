// Package deployreg plans the deploy/ files that register a new service:
// its compose service and debug image, its PostgreSQL database, its
// Kubernetes manifest and every overlay list that names each service, its
// declared config and its Prometheus target. The service has a database,
// no events, and calls no peer but the user service's key set.
//
// Files that list services are edited as text, by insertion at an anchor,
// so their comments and layout stay as they are; new files come from the
// templates in templates/.
package deployreg

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"
)

// Edit is one file to write, new or replaced whole; Path slash-separated,
// relative to the repo root.
type Edit struct {
	Path string
	Data []byte
	New  bool
}

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl"))

// The prod sizing the connection budget of deploy/k8s/README.md assumes:
// the HPA maximum of overlays/prod plus the Deployment's surge of 1.
const (
	prodPods = 11
	// dbMaxConns is a new service's pool per pod: a request holds a
	// connection only for its statements, so two serve well over a hundred
	// transactions a second. The budget it must fit is the README's.
	dbMaxConns = 2
)

var serviceName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// params are what the templates see.
type params struct {
	Name               string
	GRPCPort, HTTPPort int
	DebugPort          int
	DBMaxConns         int
	FingerprintSuffix  string
	Digest             string
}

// Deploy returns the edits of deploy/ under root that register the service
// name with the given default ports. It writes nothing. It fails, naming the
// file, when the service is already there, a port is taken, or a file no
// longer has the anchor an insertion needs.
func Deploy(root string, name string, grpcPort, httpPort int) ([]Edit, error) {
	if !serviceName.MatchString(name) {
		return nil, fmt.Errorf("service name %q: want lower-case letters and digits, starting with a letter (it names a PostgreSQL role)", name)
	}
	if grpcPort <= 0 || grpcPort > 65535 || httpPort <= 0 || httpPort > 65535 || grpcPort == httpPort {
		return nil, fmt.Errorf("ports %d/%d: want two different ports in 1-65535", grpcPort, httpPort)
	}
	suffix, err := randomSuffix(31)
	if err != nil {
		return nil, err
	}
	digest := sha256.Sum256([]byte("slipway/" + name))
	p := &planner{root: root, params: params{
		Name: name, GRPCPort: grpcPort, HTTPPort: httpPort, DBMaxConns: dbMaxConns,
		FingerprintSuffix: suffix, Digest: hex.EncodeToString(digest[:]),
	}}
	p.run()
	if p.err != nil {
		return nil, p.err
	}
	return p.edits, nil
}

// planner collects the edits; the first error stops it.
type planner struct {
	root   string
	params params
	edits  []Edit
	err    error
}

func (p *planner) run() {
	n := p.params.Name
	for _, f := range []struct{ path, tmpl string }{
		{"deploy/k8s/base/" + n + ".yaml", "k8s-base.yaml.tmpl"},
		{"deploy/k8s/overlays/dev/secrets/" + n + ".env", "secrets-dev.env.tmpl"},
		{"deploy/config/dev/" + n + ".yaml", "config-dev.yaml.tmpl"},
		{"deploy/config/prod/" + n + ".yaml", "config-prod.yaml.tmpl"},
		{"deploy/config/local/" + n + ".yaml", "config-local.yaml.tmpl"},
	} {
		p.create(f.path, f.tmpl)
	}
	p.compose()
	p.override()
	p.edit("deploy/compose/postgres/10-databases.sql", []string{"slipway_" + n + " "}, func(d *doc) error {
		role := "slipway_" + n
		return errors.Join(
			d.afterLastLine(fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s';\n", role, role), prefix("CREATE ROLE slipway_"), nil),
			d.afterLastLine(fmt.Sprintf("CREATE DATABASE %s OWNER %s;\n", role, role), prefix("CREATE DATABASE slipway_"), nil),
			d.afterLastLine(fmt.Sprintf("REVOKE ALL ON DATABASE %s FROM PUBLIC;\n", role), prefix("REVOKE ALL ON DATABASE slipway_"), nil),
		)
	})
	p.edit("deploy/prometheus/prometheus.yml", []string{"- " + n + ":"}, func(d *doc) error {
		return d.appendToBlock(fmt.Sprintf("          - %s:%d\n", n, p.params.HTTPPort), "  - job_name: slipway", "      - targets:")
	})
	p.dockerfile()
	p.edit("deploy/k8s/base/kustomization.yaml", []string{"- " + n + ".yaml"}, func(d *doc) error {
		return d.appendToBlock("  - "+n+".yaml\n", "resources:")
	})
	p.devOverlay()
	p.prodOverlay()
	for _, env := range []string{"dev", "prod", "local"} {
		p.edit("deploy/config/"+env+"/kustomization.yaml", []string{"name: " + n + "-config"}, func(d *doc) error {
			return d.appendToBlock(p.render("config-generator.yaml.tmpl"), "configMapGenerator:")
		})
	}
	p.pipeline()
	p.readme()
}

// pipeline registers the service where the delivery pipeline lists every
// service: the release workflow's image matrix, the Argo release template's
// image builds, and the in-cluster Prometheus's scrape jobs.
func (p *planner) pipeline() {
	n := p.params.Name
	p.edit(".github/workflows/release.yml", []string{", " + n + "]"}, func(d *doc) error {
		return d.beforeInLine(", "+n, "        service: [", "]")
	})
	p.edit("deploy/argo/workflow-release.yaml", []string{" " + n + "; do"}, func(d *doc) error {
		return d.beforeInLine(" "+n, "for svc in ", "; do")
	})
	p.edit("deploy/prometheus/prometheus-k8s.yml", []string{"job_name: slipway-" + n + "\n"}, func(d *doc) error {
		const anchor = "\n  # What batch jobs pushed"
		at := strings.Index(d.text, anchor)
		if at < 0 {
			return d.anchorError(strings.TrimSpace(anchor))
		}
		d.insertAt(at+1, p.render("prometheus-k8s-job.yml.tmpl"))
		return nil
	})
}

func (p *planner) compose() {
	n := p.params.Name
	path := "deploy/compose/docker-compose.yml"
	p.edit(path, []string{"\n  " + n + ":\n"}, func(d *doc) error {
		for _, port := range []int{p.params.GRPCPort, p.params.HTTPPort} {
			if strings.Contains(d.text, fmt.Sprintf(":%d:%d\"", port, port)) {
				return fmt.Errorf("%s: port %d is already published by another service", path, port)
			}
		}
		return errors.Join(
			d.endOfLine(fmt.Sprintf("  %s %d/%d", n, p.params.GRPCPort, p.params.HTTPPort), "#   services   "),
			d.appendToBlock(p.render("compose-service.yml.tmpl"), "services:"),
		)
	})
}

var debugPort = regexp.MustCompile(`"127\.0\.0\.1:(\d+):2345"`)

// reservedDebugPorts are host dlv ports taken outside compose: 2345 is
// `slipway debug`'s, 2350 the k8s port-forward of .vscode/launch.json.
var reservedDebugPorts = []int{2345, 2350}

// override adds the debug image; its dlv port is the next free one after
// the highest one published.
func (p *planner) override() {
	n := p.params.Name
	p.edit("deploy/compose/docker-compose.override.yml", []string{"\n  " + n + ":\n"}, func(d *doc) error {
		for _, m := range debugPort.FindAllStringSubmatch(d.text, -1) {
			port, _ := strconv.Atoi(m[1])
			p.params.DebugPort = max(p.params.DebugPort, port+1)
		}
		if p.params.DebugPort == 0 {
			return d.anchorError(`"127.0.0.1:<port>:2345"`)
		}
		for slices.Contains(reservedDebugPorts, p.params.DebugPort) {
			p.params.DebugPort++
		}
		return d.appendToBlock(p.render("compose-debug.yml.tmpl"), "services:")
	})
}

// moduleCopy is a service's line in the Dockerfile's module-files layer.
var moduleCopy = regexp.MustCompile(`^COPY services/[a-z0-9]+/go\.mod `)

func (p *planner) dockerfile() {
	n := p.params.Name
	p.edit("deploy/docker/Dockerfile", []string{"AS svc-" + n + "\n"}, func(d *doc) error {
		return errors.Join(
			d.afterLastLine(fmt.Sprintf("COPY services/%s/go.mod services/%s/go.sum services/%s/\n", n, n, n), moduleCopy, nil),
			d.afterLastParagraph(p.render("dockerfile-stage.tmpl"), "FROM runtime-base AS svc-"),
		)
	})
}

func (p *planner) devOverlay() {
	n := p.params.Name
	p.edit("deploy/k8s/overlays/dev/kustomization.yaml", []string{"name: " + n + "-secrets", "name: slipway/" + n + "\n"}, func(d *doc) error {
		return errors.Join(
			d.appendToBlock(fmt.Sprintf("  - name: slipway/%s\n    newTag: dev\n", n), "images:"),
			d.appendToBlock(p.render("k8s-dev-secret.yaml.tmpl"), "secretGenerator:"),
		)
	})
}

// The Secrets list in the prod kustomization's header: "#   <svc>-secrets  KEY, ..."
// and its wrapped lines.
var (
	secretsEntry = regexp.MustCompile(`^#   \S+-secrets  `)
	secretsWrap  = regexp.MustCompile(`^#\s{10,}\S`)
)

func (p *planner) prodOverlay() {
	n := p.params.Name
	p.edit("deploy/k8s/overlays/prod/kustomization.yaml", []string{"name: slipway/" + n + "\n", "secretName: " + n + "-tls"}, func(d *doc) error {
		return errors.Join(
			// The Secret the operator creates, in the list a test holds the pods to.
			d.afterLastLine(fmt.Sprintf("#   %-21s DATABASE_URL, CONFIG_FINGERPRINT_KEY\n", n+"-secrets"), secretsEntry, secretsWrap),
			d.appendToBlock(p.render("k8s-prod-image.yaml.tmpl"), "images:"),
			d.appendToBlock(p.render("k8s-prod-tls-patch.yaml.tmpl"), "patches:"),
		)
	})
	p.edit("deploy/k8s/overlays/prod/certificates.yaml", []string{"name: " + n + "-tls"}, func(d *doc) error {
		if !strings.Contains(d.text, "kind: Certificate") {
			return d.anchorError("kind: Certificate")
		}
		d.appendDocument(p.render("k8s-prod-certificate.yaml.tmpl"))
		return nil
	})
	p.edit("deploy/k8s/overlays/prod/networkpolicy.yaml", []string{"\n  name: " + n + "\n"}, func(d *doc) error {
		// user's policy: every service that verifies tokens fetches the key set.
		err := d.beforeInLine(", "+n, "{key: app.kubernetes.io/name, operator: In, values: [", "]")
		d.appendDocument(p.render("k8s-prod-networkpolicy.yaml.tmpl"))
		return err
	})
}

var readmeTotal = regexp.MustCompile(`= (\d+) connections, under (\d+)\.`)

// readme adds the service's row to the connection budget of
// deploy/k8s/README.md and its share to the sum below the table.
func (p *planner) readme() {
	n := p.params.Name
	p.edit("deploy/k8s/README.md", []string{"| " + n + " |"}, func(d *doc) error {
		used := prodPods * dbMaxConns
		m := readmeTotal.FindStringSubmatchIndex(d.text)
		if m == nil {
			return d.anchorError("= <n> connections, under <budget>.")
		}
		total, _ := strconv.Atoi(d.text[m[2]:m[3]])
		budget, _ := strconv.Atoi(d.text[m[4]:m[5]])
		if total+used > budget {
			return fmt.Errorf("%s: %s's %d connections take the prod pools to %d, over the budget of %d: resize the pools first", d.path, n, used, total+used, budget)
		}
		d.text = d.text[:m[0]] + fmt.Sprintf("+ %s %d × %d = %d", n, prodPods, dbMaxConns, total+used) + d.text[m[3]:]
		return d.afterRun(fmt.Sprintf("| %s | %d | %d | %d |\n", n, prodPods, dbMaxConns, used), "| service | pods | db_max_conns | connections |", "|")
	})
}

// edit reads path, refuses it when it already names the service (any of
// present), applies change and records the result.
func (p *planner) edit(path string, present []string, change func(*doc) error) {
	if p.err != nil {
		return
	}
	data, err := os.ReadFile(filepath.Join(p.root, filepath.FromSlash(path)))
	if err != nil {
		p.err = fmt.Errorf("read %s: %w", path, err)
		return
	}
	d := &doc{path: path, text: string(data)}
	for _, s := range present {
		if strings.Contains(d.text, s) {
			p.err = fmt.Errorf("%s: service %q is already registered (found %q)", path, p.params.Name, strings.TrimSpace(s))
			return
		}
	}
	if err := change(d); err != nil {
		p.err = err
		return
	}
	p.edits = append(p.edits, Edit{Path: path, Data: []byte(d.text)})
}

// create renders a new file; it must not exist yet.
func (p *planner) create(path, tmpl string) {
	if p.err != nil {
		return
	}
	_, err := os.Stat(filepath.Join(p.root, filepath.FromSlash(path)))
	switch {
	case err == nil:
		p.err = fmt.Errorf("%s: service %q is already registered (the file exists)", path, p.params.Name)
		return
	case !errors.Is(err, fs.ErrNotExist):
		p.err = err
		return
	}
	p.edits = append(p.edits, Edit{Path: path, Data: []byte(p.render(tmpl)), New: true})
}

// render executes a template; they are embedded and tested, so a failure
// is a bug.
func (p *planner) render(name string) string {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, path.Base(name), p.params); err != nil {
		panic(fmt.Sprintf("deployreg: template %s: %v", name, err))
	}
	return b.String()
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomSuffix is the random part of a dev fingerprint key, like the others'.
func randomSuffix(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("dev fingerprint key: %w", err)
	}
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b), nil
}
