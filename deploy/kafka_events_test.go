package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// apiEventsDir holds the event streams and the permission matrix that the
// Kafka topics and users are derived from. The deploy module does not import
// it (no dependency on the api module), so the test reads its Go source.
const apiEventsDir = "api/events"

// dlqSuffix names a topic's dead-letter twin: <topic>.dlq.
const dlqSuffix = ".dlq"

// kafkaACL is one permission of a Kafka user, as Strimzi's simple
// authorization states it, with one operation.
type kafkaACL struct {
	ResourceType, Name, PatternType, Operation string
}

func (a kafkaACL) String() string {
	return fmt.Sprintf("%s %s:%s(%s)", a.Operation, a.ResourceType, a.Name, a.PatternType)
}

// kafkaModel is what api/events says the Kafka cluster must hold: a topic
// per event stream (the dead-letter stream aside: on Kafka each topic has its
// own <topic>.dlq), and each service's ACLs.
type kafkaModel struct {
	// Topics are the event topics, without their .dlq twins, sorted.
	Topics []string
	// ACLs are the permissions of each service's user.
	ACLs map[string][]kafkaACL
}

// topicOf is the Kafka topic of a JetStream stream: its name in lower case
// (ORDERS -> orders).
func topicOf(stream string) string { return strings.ToLower(stream) }

// readKafkaModel parses the Go source of api/events: its string constants,
// and the Accesses matrix.
func readKafkaModel(t testing.TB) kafkaModel {
	t.Helper()
	m, err := parseKafkaModel(filepath.Join(repoRoot(t), apiEventsDir))
	require.NoError(t, err)
	return m
}

// parseKafkaModel derives the Kafka model from the package in dir. Each
// Access maps to ACLs as its NATS permissions do: the subjects it publishes
// (SubjectsX, the filter of StreamX) are Write on StreamX's topic; each
// durable consumer is Read on its stream's topic, Read on its own consumer
// group (named after the durable) and Write on the topic's .dlq. Describe
// comes with each topic permission (metadata, offsets). Anything the parser
// does not recognise is an error, so a changed matrix fails loudly.
func parseKafkaModel(dir string) (kafkaModel, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return kafkaModel{}, err
	}
	fset := token.NewFileSet()
	consts := map[string]string{}
	var accesses *ast.CompositeLit
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			return kafkaModel{}, err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok {
				continue
			}
			for _, spec := range gd.Specs {
				vs, ok := spec.(*ast.ValueSpec)
				if !ok {
					continue
				}
				for i, id := range vs.Names {
					if i >= len(vs.Values) {
						continue
					}
					switch {
					case gd.Tok == token.CONST:
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							v, err := strconv.Unquote(lit.Value)
							if err != nil {
								return kafkaModel{}, fmt.Errorf("constant %s: %w", id.Name, err)
							}
							consts[id.Name] = v
						}
					case gd.Tok == token.VAR && id.Name == "Accesses":
						accesses, _ = vs.Values[i].(*ast.CompositeLit)
					}
				}
			}
		}
	}
	deadLetter, ok := consts["StreamDeadLetter"]
	if !ok {
		return kafkaModel{}, fmt.Errorf("%s: no StreamDeadLetter constant", dir)
	}
	var model kafkaModel
	for _, name := range sortedNames(consts) {
		if strings.HasPrefix(name, "Stream") && consts[name] != deadLetter {
			model.Topics = append(model.Topics, topicOf(consts[name]))
		}
	}
	slices.Sort(model.Topics)
	if len(model.Topics) == 0 {
		return kafkaModel{}, fmt.Errorf("%s: no event stream constant (Stream...)", dir)
	}
	if accesses == nil {
		return kafkaModel{}, fmt.Errorf("%s: no Accesses composite literal", dir)
	}
	model.ACLs, err = accessACLs(accesses, consts)
	return model, err
}

// accessACLs turns the elements of the Accesses literal into ACLs by user.
func accessACLs(accesses *ast.CompositeLit, consts map[string]string) (map[string][]kafkaACL, error) {
	value := func(e ast.Expr) (string, error) {
		id, ok := e.(*ast.Ident)
		if !ok {
			return "", fmt.Errorf("%T: want the name of a constant", e)
		}
		v, ok := consts[id.Name]
		if !ok {
			return "", fmt.Errorf("%s is not a string constant of the package", id.Name)
		}
		return v, nil
	}
	elems := func(e ast.Expr) ([]ast.Expr, error) {
		lit, ok := e.(*ast.CompositeLit)
		if !ok {
			return nil, fmt.Errorf("%T: want a slice literal", e)
		}
		return lit.Elts, nil
	}
	out := map[string][]kafkaACL{}
	topicACL := func(topic string, ops ...string) []kafkaACL {
		var acls []kafkaACL
		for _, op := range ops {
			acls = append(acls, kafkaACL{"topic", topic, "literal", op})
		}
		return acls
	}
	for i, e := range accesses.Elts {
		lit, ok := e.(*ast.CompositeLit)
		if !ok {
			return nil, fmt.Errorf("Accesses[%d]: %T, want an Access literal", i, e)
		}
		var user string
		var acls []kafkaACL
		for _, f := range lit.Elts {
			kv, ok := f.(*ast.KeyValueExpr)
			if !ok {
				return nil, fmt.Errorf("Accesses[%d]: want keyed fields", i)
			}
			key := identName(kv.Key)
			var err error
			switch key {
			case "User":
				user, err = value(kv.Value)
			case "Publishes":
				var subjects []ast.Expr
				if subjects, err = elems(kv.Value); err != nil {
					break
				}
				for _, s := range subjects {
					id, ok := s.(*ast.Ident)
					stream, known := consts[strings.Replace(identName(s), "Subjects", "Stream", 1)]
					if !ok || !strings.HasPrefix(id.Name, "Subjects") || !known {
						return nil, fmt.Errorf("Accesses[%d].Publishes: %s is not the SubjectsX filter of a StreamX", i, identName(s))
					}
					acls = append(acls, topicACL(topicOf(stream), "Write", "Describe")...)
				}
			case "Consumes":
				var durables []ast.Expr
				if durables, err = elems(kv.Value); err != nil {
					break
				}
				for _, d := range durables {
					dl, ok := d.(*ast.CompositeLit)
					if !ok {
						return nil, fmt.Errorf("Accesses[%d].Consumes: %T, want a Durable literal", i, d)
					}
					var stream, name string
					for _, df := range dl.Elts {
						dkv, ok := df.(*ast.KeyValueExpr)
						if !ok {
							return nil, fmt.Errorf("Accesses[%d].Consumes: want keyed fields", i)
						}
						v, err := value(dkv.Value)
						if err != nil {
							return nil, fmt.Errorf("Accesses[%d].Consumes: %w", i, err)
						}
						switch identName(dkv.Key) {
						case "Stream":
							stream = v
						case "Name":
							name = v
						}
					}
					if stream == "" || name == "" {
						return nil, fmt.Errorf("Accesses[%d].Consumes: a Durable without Stream or Name", i)
					}
					acls = append(acls, topicACL(topicOf(stream), "Read", "Describe")...)
					acls = append(acls, kafkaACL{"group", name, "literal", "Read"})
					acls = append(acls, topicACL(topicOf(stream)+dlqSuffix, "Write", "Describe")...)
				}
			case "Owns", "Reads", "Waits":
				// Stream creation and lookup: on Kafka the Topic Operator
				// creates the topics, and Describe comes with each topic ACL.
			default:
				return nil, fmt.Errorf("Accesses[%d]: field %s has no Kafka mapping", i, key)
			}
			if err != nil {
				return nil, fmt.Errorf("Accesses[%d].%s: %w", i, key, err)
			}
		}
		if user == "" {
			return nil, fmt.Errorf("Accesses[%d]: no User", i)
		}
		out[user] = sortedACLs(acls)
	}
	return out, nil
}

func identName(e ast.Expr) string {
	if id, ok := e.(*ast.Ident); ok {
		return id.Name
	}
	return fmt.Sprintf("%T", e)
}

// sortedACLs is acls sorted and without duplicates.
func sortedACLs(acls []kafkaACL) []kafkaACL {
	out := slices.Clone(acls)
	slices.SortFunc(out, func(a, b kafkaACL) int { return strings.Compare(a.String(), b.String()) })
	return slices.Compact(out)
}

// TestKafkaModelFollowsAPIEvents: the model the Kafka checks use is read
// from api/events, so a renamed stream, a new consumer or a changed
// permission moves the expected topics and ACLs with it.
func TestKafkaModelFollowsAPIEvents(t *testing.T) {
	m := readKafkaModel(t)
	assert.Equal(t, []string{"orders"}, m.Topics)
	assert.ElementsMatch(t, []string{"order", "inventory", "notification"}, sortedNames(m.ACLs))
	assert.Equal(t, []kafkaACL{{"topic", "orders", "literal", "Describe"}, {"topic", "orders", "literal", "Write"}}, m.ACLs["order"])
	assert.Contains(t, m.ACLs["inventory"], kafkaACL{"group", "inventory", "literal", "Read"})
	assert.NotContains(t, m.ACLs["inventory"], kafkaACL{"group", "notification", "literal", "Read"})

	write := func(t *testing.T, src string) string {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "events.go"), []byte(src), 0o600))
		return dir
	}
	const head = `package events
const (
	StreamOrders = "ORDER_EVENTS"
	SubjectsOrders = "slipway.order.>"
	StreamDeadLetter = "DEADLETTER"
	ServiceOrder = "order"
	ServiceInventory = "inventory"
)
type Durable struct{ Stream, Name string }
type Access struct{ User string; Publishes []string; Consumes []Durable; Owns, Reads, Waits []string; Limit int }
`
	t.Run("a renamed stream renames its topic", func(t *testing.T) {
		m, err := parseKafkaModel(write(t, head+`var Accesses = []Access{{User: ServiceOrder, Publishes: []string{SubjectsOrders}}}`))
		require.NoError(t, err)
		assert.Equal(t, []string{"order_events"}, m.Topics)
		assert.Contains(t, m.ACLs["order"], kafkaACL{"topic", "order_events", "literal", "Write"})
	})
	t.Run("a consumer reads its stream in its own group and writes its dead letters", func(t *testing.T) {
		m, err := parseKafkaModel(write(t, head+`var Accesses = []Access{{User: ServiceInventory, Consumes: []Durable{{Stream: StreamOrders, Name: ServiceInventory}}}}`))
		require.NoError(t, err)
		assert.Equal(t, sortedACLs([]kafkaACL{
			{"topic", "order_events", "literal", "Read"}, {"topic", "order_events", "literal", "Describe"},
			{"group", "inventory", "literal", "Read"},
			{"topic", "order_events.dlq", "literal", "Write"}, {"topic", "order_events.dlq", "literal", "Describe"},
		}), m.ACLs["inventory"])
	})
	errs := []struct{ name, src, want string }{
		{"unmapped field", `var Accesses = []Access{{User: ServiceOrder, Limit: 3}}`, "field Limit has no Kafka mapping"},
		{"literal subject", `var Accesses = []Access{{User: ServiceOrder, Publishes: []string{"slipway.order.>"}}}`, "is not the SubjectsX filter"},
		{"no user", `var Accesses = []Access{{Publishes: []string{SubjectsOrders}}}`, "no User"},
		{"unknown constant", `var Accesses = []Access{{User: ServicePayment}}`, "ServicePayment is not a string constant"},
		{"no matrix", ``, "no Accesses"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseKafkaModel(write(t, head+tt.src))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("no dead-letter stream", func(t *testing.T) {
		_, err := parseKafkaModel(write(t, "package events\nconst StreamOrders = \"ORDERS\"\n"))
		require.ErrorContains(t, err, "no StreamDeadLetter")
	})
}
