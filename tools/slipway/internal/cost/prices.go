package cost

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Pricing models a cloud's price table has, in the order they are printed.
const (
	OnDemand = "on_demand"
	Spot     = "spot"
)

// Pricings lists the pricing models in print order.
var Pricings = []string{OnDemand, Spot}

// DefaultStaleDays is how old as_of may be before the table is called stale.
const DefaultStaleDays = 180

// Prices is deploy/cost/prices.yaml: per cloud, what a vCPU-hour and a
// GiB-hour cost on demand and on spot.
type Prices struct {
	AsOf          string           `yaml:"as_of" json:"as_of"`
	Currency      string           `yaml:"currency" json:"currency"`
	HoursPerMonth float64          `yaml:"hours_per_month" json:"hours_per_month"`
	Clouds        map[string]Cloud `yaml:"clouds" json:"clouds"`

	asOf time.Time
}

// Cloud is one provider's row: the family and region its prices are for.
type Cloud struct {
	Family   string `yaml:"family" json:"family"`
	Region   string `yaml:"region" json:"region"`
	OnDemand Rate   `yaml:"on_demand" json:"on_demand"`
	Spot     Rate   `yaml:"spot" json:"spot"`
}

// Rate is the price of a vCPU-hour and of a GiB-hour, and where it came from.
type Rate struct {
	VCPUHour float64 `yaml:"vcpu_hour" json:"vcpu_hour"`
	GiBHour  float64 `yaml:"gib_hour" json:"gib_hour"`
	Source   string  `yaml:"source" json:"source"`
}

// Rate returns the cloud's rate under pricing (OnDemand or Spot).
func (c Cloud) Rate(pricing string) Rate {
	if pricing == Spot {
		return c.Spot
	}
	return c.OnDemand
}

// CloudNames are the table's clouds, sorted.
func (p *Prices) CloudNames() []string {
	names := make([]string, 0, len(p.Clouds))
	for n := range p.Clouds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// AsOfTime is as_of as a date.
func (p *Prices) AsOfTime() time.Time { return p.asOf }

var cloudName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// LoadPrices reads and checks the price table at path.
func LoadPrices(path string) (*Prices, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the operator names the price table
	if err != nil {
		return nil, fmt.Errorf("price table: %w", err)
	}
	p, err := ParsePrices(data)
	if err != nil {
		return nil, fmt.Errorf("price table %s: %w", path, err)
	}
	return p, nil
}

// ParsePrices decodes a price table strictly (unknown keys are errors) and
// checks every price: present, finite, not negative, spot not above
// on-demand.
func ParsePrices(data []byte) (*Prices, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Prices
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty")
		}
		return nil, err
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	return &p, p.validate()
}

func (p *Prices) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.AsOf == "" {
		bad("as_of: missing (the date the prices were read, YYYY-MM-DD)")
	} else if t, err := time.Parse(time.DateOnly, p.AsOf); err != nil {
		bad("as_of %q: want a date, YYYY-MM-DD", p.AsOf)
	} else {
		p.asOf = t
	}
	if p.Currency == "" {
		bad("currency: missing (e.g. USD)")
	}
	if !(p.HoursPerMonth > 0 && p.HoursPerMonth <= 744) {
		bad("hours_per_month %v: want more than 0 and at most 744 (730 is the average month)", p.HoursPerMonth)
	}
	if len(p.Clouds) == 0 {
		bad("clouds: none")
	}
	for _, name := range p.CloudNames() {
		c := p.Clouds[name]
		if !cloudName.MatchString(name) {
			bad("clouds.%s: a cloud's name is lower case letters, digits and _", name)
		}
		if c.Family == "" || c.Region == "" {
			bad("clouds.%s: family and region say what the prices are for; both are required", name)
		}
		for _, pricing := range Pricings {
			r := c.Rate(pricing)
			at := "clouds." + name + "." + pricing
			for _, f := range []struct {
				key string
				v   float64
			}{{"vcpu_hour", r.VCPUHour}, {"gib_hour", r.GiBHour}} {
				switch {
				case math.IsNaN(f.v) || math.IsInf(f.v, 0):
					bad("%s.%s: not a number", at, f.key)
				case f.v < 0:
					bad("%s.%s %v: a price cannot be negative", at, f.key, f.v)
				case f.v == 0:
					bad("%s.%s: missing or zero", at, f.key)
				}
			}
			if strings.TrimSpace(r.Source) == "" {
				bad("%s.source: missing (which public page, and how the per-vCPU and per-GiB prices were derived)", at)
			}
		}
		if c.Spot.VCPUHour > c.OnDemand.VCPUHour || c.Spot.GiBHour > c.OnDemand.GiBHour {
			bad("clouds.%s: spot prices above on-demand ones (a swapped row?)", name)
		}
	}
	return errors.Join(errs...)
}

// Stale says, when as_of is more than days before now, how old it is.
func (p *Prices) Stale(now time.Time, days int) (string, bool) {
	age := int(now.Sub(p.asOf).Hours() / 24)
	if days <= 0 || age <= days {
		return "", false
	}
	return fmt.Sprintf("the price table is %d days old (as_of %s, more than %d): prices, spot ones most of all, may have moved; check the sources and update it",
		age, p.AsOf, days), true
}
