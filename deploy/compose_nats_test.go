package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// natsConf is deploy/compose's NATS configuration: its users.
const natsConf = "nats/nats-server.conf"

// natsUser is one user of the NATS configuration.
type natsUser struct {
	name, passwordVar  string
	publish, subscribe []string
}

var (
	natsUserBlock = regexp.MustCompile(`(?s)\{\s*user:\s*(\S+)\s*password:\s*\$(\w+)\s*permissions:\s*\{\s*publish:\s*\{\s*allow:\s*\[([^\]]*)\]\s*\}\s*subscribe:\s*\{\s*allow:\s*\[([^\]]*)\]\s*\}\s*\}\s*\}`)
	natsQuoted    = regexp.MustCompile(`"([^"]*)"`)
)

// parseNATSUsers reads the users of a configuration written in the shape
// deploy/compose/nats/nats-server.conf uses (one block per user, allow lists
// only); a user block in another shape is an error, not skipped.
func parseNATSUsers(data string) ([]natsUser, error) {
	var users []natsUser
	for _, m := range natsUserBlock.FindAllStringSubmatch(data, -1) {
		u := natsUser{name: m[1], passwordVar: m[2]}
		for _, q := range natsQuoted.FindAllStringSubmatch(m[3], -1) {
			u.publish = append(u.publish, q[1])
		}
		for _, q := range natsQuoted.FindAllStringSubmatch(m[4], -1) {
			u.subscribe = append(u.subscribe, q[1])
		}
		users = append(users, u)
	}
	if n := strings.Count(data, "user:"); n != len(users) {
		return nil, fmt.Errorf("%d user entries, %d in the expected shape", n, len(users))
	}
	if strings.Contains(data, "no_auth_user") || strings.Contains(data, "deny:") {
		return nil, fmt.Errorf("no_auth_user or deny lists: only allow lists are expected")
	}
	return users, nil
}

// checkNATSAuth returns what lets a client of compose's NATS do more than
// its service needs: no configuration loaded, a service without a user or
// with another's password, a publish allowed beyond the event subjects the
// service produces and its own JetStream calls, a subscription beyond its
// own inbox.
func checkNATSAuth(p *types.Project, users []natsUser) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	nats, ok := p.Services["nats"]
	if !ok {
		return []string{"no nats service"}
	}
	if !slices.Contains(nats.Command, "/etc/nats/nats-server.conf") {
		bad("nats runs without --config /etc/nats/nats-server.conf: every client may publish anything")
	}
	byName := map[string]natsUser{}
	for _, u := range users {
		byName[u.name] = u
		for _, s := range u.subscribe {
			if s != "_INBOX."+u.name+".>" {
				bad("NATS user %s may subscribe to %q: only its own inbox _INBOX.%s.>", u.name, s, u.name)
			}
		}
		for _, s := range u.publish {
			switch {
			case s == ">" || strings.HasSuffix(s, "*") || s == "slipway.>" || s == "$JS.API.>":
				bad("NATS user %s may publish to %q: a wildcard that covers other services' subjects", u.name, s)
			case strings.HasPrefix(s, "slipway.order.") && u.name != "order":
				bad("NATS user %s may publish order events (%q): only order produces them", u.name, s)
			case strings.HasPrefix(s, "$JS.API.CONSUMER.") && !strings.Contains(s, "."+u.name):
				bad("NATS user %s may drive another service's consumer (%q)", u.name, s)
			case strings.HasPrefix(s, "slipway.deadletter.") && s != "slipway.deadletter."+u.name:
				bad("NATS user %s may dead-letter as another service (%q)", u.name, s)
			}
		}
	}
	env := slipwayEnv(p)
	for _, svc := range sortedNames(env) {
		if _, uses := env[svc]["NATS_URL"]; !uses {
			continue
		}
		user, password := env[svc]["NATS_USER"], env[svc]["NATS_PASSWORD"]
		u, ok := byName[user]
		switch {
		case user == "" || password == "":
			bad("%s connects to NATS without NATS_USER and NATS_PASSWORD", svc)
		case user != svc:
			bad("%s connects to NATS as %q: each service is its own user", svc, user)
		case !ok:
			bad("%s connects as NATS user %q, which %s does not define", svc, user, natsConf)
		default:
			if got, _ := envValue(nats, u.passwordVar); got != password {
				bad("%s's NATS_PASSWORD is not what the nats service gives user %s ($%s)", svc, user, u.passwordVar)
			}
		}
	}
	return problems
}

// TestComposeNATSAuth: compose's broker knows each service as its own user
// with only its own subjects, and the services log in with those users.
func TestComposeNATSAuth(t *testing.T) {
	dir := filepath.Join(repoRoot(t), composeDir)
	data, err := os.ReadFile(filepath.Join(dir, natsConf))
	require.NoError(t, err)
	users, err := parseNATSUsers(string(data))
	require.NoError(t, err)
	var names []string
	for _, u := range users {
		names = append(names, u.name)
	}
	assert.ElementsMatch(t, []string{"order", "inventory", "notification"}, names)
	order := users[slices.IndexFunc(users, func(u natsUser) bool { return u.name == "order" })]
	assert.Contains(t, order.publish, "slipway.order.>", "order publishes its events")

	for _, cfg := range composeConfigs {
		t.Run(cfg.name, func(t *testing.T) {
			p := loadCompose(t, dir, cfg.files, cfg.env)
			assert.Empty(t, checkNATSAuth(p, users))
		})
	}

	// Overriding one password in .env changes both sides.
	p := loadCompose(t, dir, []string{composeFile}, map[string]string{"NATS_ORDER_PASSWORD": "from-the-env-file"})
	assert.Empty(t, checkNATSAuth(p, users))

	tests := []struct {
		name   string
		mutate func(p *types.Project, users []natsUser) []natsUser
		want   string
	}{
		{"no configuration", func(p *types.Project, users []natsUser) []natsUser {
			s := p.Services["nats"]
			s.Command = slices.DeleteFunc(slices.Clone(s.Command), func(a string) bool { return a == "/etc/nats/nats-server.conf" })
			p.Services["nats"] = s
			return users
		}, "nats runs without --config"},
		{"inventory publishes order events", func(_ *types.Project, users []natsUser) []natsUser {
			i := slices.IndexFunc(users, func(u natsUser) bool { return u.name == "inventory" })
			users[i].publish = append(users[i].publish, "slipway.order.>")
			return users
		}, "NATS user inventory may publish order events"},
		{"wildcard publish", func(_ *types.Project, users []natsUser) []natsUser {
			users[0].publish = append(users[0].publish, ">")
			return users
		}, `may publish to ">"`},
		{"another's inbox", func(_ *types.Project, users []natsUser) []natsUser {
			users[1].subscribe = []string{"_INBOX.>"}
			return users
		}, `may subscribe to "_INBOX.>"`},
		{"service without credentials", func(p *types.Project, users []natsUser) []natsUser {
			s := p.Services["notification"]
			delete(s.Environment, "NATS_PASSWORD")
			p.Services["notification"] = s
			return users
		}, "notification connects to NATS without NATS_USER and NATS_PASSWORD"},
		{"shared user", func(p *types.Project, users []natsUser) []natsUser {
			s := p.Services["inventory"]
			u := "order"
			s.Environment["NATS_USER"] = &u
			p.Services["inventory"] = s
			return users
		}, `inventory connects to NATS as "order"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := loadCompose(t, dir, []string{composeFile}, nil)
			fresh, err := parseNATSUsers(string(data))
			require.NoError(t, err)
			problems := checkNATSAuth(p, tt.mutate(p, fresh))
			assert.True(t, slices.ContainsFunc(problems, func(s string) bool { return strings.Contains(s, tt.want) }),
				"want a problem containing %q, got %q", tt.want, problems)
		})
	}
	_, err = parseNATSUsers(string(data) + "\n# user: stray\n")
	assert.Error(t, err, "a user entry in another shape is refused, not skipped")
}
