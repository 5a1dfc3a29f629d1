package store

import (
	"context"
	"fmt"
	"time"

	"github.com/slipway-dev/slipway/services/inventory/internal/domain"
)

// catalog is the demo shop's starting range: what a fresh install sells, so
// every flow works on day one. Prices are in US cents.
var catalog = []domain.Product{
	{ID: "aeropress-go", Name: "AeroPress Go", Description: "Compact immersion brewer with a mug that holds the kit; makes one cup in a minute.", Price: usd(3995), Stock: 40},
	{ID: "burr-grinder-conical", Name: "Conical Burr Grinder", Description: "Steel conical burrs with 40 grind settings, from espresso to cold brew.", Price: usd(14900), Stock: 15},
	{ID: "chemex-6-cup", Name: "Chemex Six-Cup", Description: "Hand-blown borosilicate pour-over with a wooden collar and leather tie.", Price: usd(4950), Stock: 25},
	{ID: "cold-brew-bottle-1l", Name: "Cold Brew Bottle 1 L", Description: "Glass bottle with a fine mesh filter; steep overnight in the fridge.", Price: usd(2800), Stock: 35},
	{ID: "colombia-huila-250g", Name: "Colombia Huila, 250 g", Description: "Washed Caturra from Huila: red apple, panela and milk chocolate. Medium roast.", Price: usd(1650), Stock: 120},
	{ID: "espresso-blend-1kg", Name: "House Espresso Blend, 1 kg", Description: "Brazil and Guatemala for a syrupy shot with hazelnut and cocoa notes.", Price: usd(3400), Stock: 60},
	{ID: "ethiopia-yirgacheffe-250g", Name: "Ethiopia Yirgacheffe, 250 g", Description: "Washed heirloom varieties: jasmine, bergamot and lemon. Light roast.", Price: usd(1800), Stock: 100},
	{ID: "gooseneck-kettle", Name: "Gooseneck Kettle 1 L", Description: "Electric kettle with a precise spout and hold temperature from 40 to 100 °C.", Price: usd(8900), Stock: 20},
	{ID: "kenya-nyeri-250g", Name: "Kenya Nyeri AA, 250 g", Description: "SL28 and SL34 from Nyeri: blackcurrant, grapefruit and a winey finish.", Price: usd(2100), Stock: 80},
	{ID: "milk-jug-600ml", Name: "Milk Jug 600 ml", Description: "Stainless steel pitcher with a sharp spout for latte art.", Price: usd(2200), Stock: 45},
	{ID: "paper-filters-v60-100", Name: "V60 Paper Filters, 100 pack", Description: "Bleached cone filters, size 02, rinsed clean of paper taste.", Price: usd(750), Stock: 300},
	{ID: "scale-timer", Name: "Coffee Scale with Timer", Description: "0.1 g resolution to 2 kg, auto-start timer and a heat-proof pad.", Price: usd(5900), Stock: 30},
	{ID: "tamper-58mm", Name: "Tamper 58 mm", Description: "Calibrated, spring-loaded tamper for 58 mm portafilters.", Price: usd(3900), Stock: 25},
	{ID: "travel-mug-350ml", Name: "Insulated Travel Mug 350 ml", Description: "Double-walled steel that keeps coffee hot for six hours; leak-proof lid.", Price: usd(2900), Stock: 70},
	{ID: "v60-dripper-ceramic", Name: "V60 Ceramic Dripper", Description: "Size 02 cone with spiral ribs and one large hole for a fast, clean cup.", Price: usd(2700), Stock: 50},
}

func usd(cents int64) domain.Money { return domain.Money{AmountMinor: cents, Currency: "USD"} }

// Catalog returns the starting catalog that SeedCatalog adds.
func Catalog() []domain.Product {
	ps := make([]domain.Product, len(catalog))
	copy(ps, catalog)
	return ps
}

// SeedCatalog adds the products of Catalog that are not in the store yet,
// and reports how many it added. It never touches an existing product, so a
// restart does not reset stock that orders and admins have changed.
func (s *Store) SeedCatalog(ctx context.Context, at time.Time) (int, error) {
	ps := Catalog()
	for i := range ps {
		ps[i].UpdatedAt = at
	}
	n, err := s.AddProducts(ctx, ps...)
	if err != nil {
		return n, fmt.Errorf("seed catalog: %w", err)
	}
	return n, nil
}
