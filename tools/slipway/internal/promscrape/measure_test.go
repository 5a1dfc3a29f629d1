package promscrape

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/slipway-dev/slipway/tools/slipway/internal/slo"
)

// exposition serves the testdata scrape named by *name, edited by edit.
func exposition(t *testing.T, name *atomic.Value, edit func(string) string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		raw, err := os.ReadFile(filepath.Join("testdata", "ready", name.Load().(string)))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = io.WriteString(w, edit(string(raw)))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Measure scrapes every target, lets Wait spend the window, scrapes again and
// reports per service; a process that restarted in between is named.
func TestMeasure(t *testing.T) {
	var scrape atomic.Value
	scrape.Store("start.prom")
	same := func(s string) string { return s }
	restarted := func(s string) string {
		return strings.Replace(s, "process_start_time_seconds 1.7e+09", "process_start_time_seconds 1.8e+09", 1)
	}
	order := exposition(t, &scrape, same)
	user := exposition(t, &scrape, same)
	restarting := exposition(t, &scrape, func(s string) string {
		if scrape.Load() == "end.prom" {
			return restarted(s)
		}
		return s
	})
	targets, err := ParseTargets("order=" + order.Listener.Addr().String() + ",user=" + user.Listener.Addr().String() +
		",user=" + restarting.Listener.Addr().String())
	require.NoError(t, err)

	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var waited time.Duration
	m, err := Measure(t.Context(), Options{
		Window: 30 * time.Second, Timeout: 2 * time.Second, Targets: targets,
		Now: func() time.Time { return clock },
		Wait: func(_ context.Context, d time.Duration) error {
			waited = d
			clock = clock.Add(d)
			scrape.Store("end.prom")
			return nil
		},
	})
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, waited)
	assert.Equal(t, []string{"order", "user"}, m.Services, "in --targets order, once each")
	assert.Equal(t, 30*time.Second, m.Measured)
	require.Len(t, m.Warnings, 1)
	assert.Contains(t, m.Warnings[0], "user ("+restarting.URL+"/metrics) restarted during the window")
	assert.Contains(t, m.Values[slo.MetricCPU], "order")
	assert.Equal(t, "no --targets entry for this service", m.Unmeasured)
}

func TestMeasureStopsOnAFailedScrapeOrWait(t *testing.T) {
	var scrape atomic.Value
	scrape.Store("start.prom")
	ok := exposition(t, &scrape, func(s string) string { return s })
	targets, err := ParseTargets("order=" + ok.Listener.Addr().String())
	require.NoError(t, err)
	opts := Options{Window: time.Second, Timeout: time.Second, Targets: targets, Now: time.Now}

	opts.Wait = func(context.Context, time.Duration) error { return context.Canceled }
	_, err = Measure(t.Context(), opts)
	assert.ErrorIs(t, err, context.Canceled, "an interrupted window is not measured")

	opts.Wait = func(context.Context, time.Duration) error { scrape.Store("gone.prom"); return nil }
	_, err = Measure(t.Context(), opts)
	require.Error(t, err, "the second scrape failed")
	assert.Contains(t, err.Error(), "scrape order at "+ok.URL+"/metrics: HTTP 500")
}

func TestScrapeTargetErrors(t *testing.T) {
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = io.WriteString(w, "not an exposition {{{\n")
	}))
	defer garbage.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	client := &http.Client{Timeout: time.Second}
	_, err := ScrapeTarget(t.Context(), client, Target{Service: "order", URL: garbage.URL}, time.Now)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "scrape order at "+garbage.URL)

	_, err = ScrapeTarget(t.Context(), client, Target{Service: "user", URL: closed.URL}, time.Now)
	require.Error(t, err)
	assert.Equal(t, 1, strings.Count(err.Error(), closed.URL), "the URL is named once: %v", err)

	snaps, err := ScrapeAll(t.Context(), client, []Target{{Service: "user", URL: closed.URL}, {Service: "order", URL: garbage.URL}}, time.Now)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "scrape user", "every failure is reported")
	assert.Contains(t, err.Error(), "scrape order")
	assert.Len(t, snaps, 2)
}
