package chaos

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/common/model"
	"github.com/slipway-dev/slipway/tools/slipway/internal/loadgen"
	"github.com/slipway-dev/slipway/tools/slipway/internal/promscrape"
	"google.golang.org/grpc/codes"
)

// effect is the evidence that one fault did something: a fault that
// changed nothing proves nothing, so an experiment whose fault left no
// trace fails.
type effect struct {
	Fault    string `json:"fault"`
	Evidence string `json:"evidence"` // what was looked for
	Observed string `json:"observed"`
	Seen     bool   `json:"seen"`
}

// effectPoll is how often a fault's watcher scrapes while it is on.
const effectPoll = 200 * time.Millisecond

// scrape reads one service's /metrics.
func (r *run) scrape(ctx context.Context, svc string) (promscrape.Snapshot, error) {
	s, ok := r.fleet.service(svc)
	if !ok {
		return promscrape.Snapshot{}, fmt.Errorf("%s is not running", svc)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return promscrape.ScrapeTarget(ctx, http.DefaultClient, promscrape.Target{Service: svc, URL: "http://" + s.HTTPDial + "/metrics"}, time.Now)
}

// metric sums a series of svc's /metrics whose labels match; ok false when
// the scrape failed or no series matched.
func (r *run) metric(ctx context.Context, svc, name string, labels map[string]string) (float64, bool) {
	snap, err := r.scrape(ctx, svc)
	if err != nil {
		return 0, false
	}
	return promscrape.GaugeSum(snap, name, func(m model.Metric) bool {
		for k, v := range labels {
			if string(m[model.LabelName(k)]) != v {
				return false
			}
		}
		return true
	})
}

// watch follows one fault while it is on; finish, called before the
// fault is reverted, returns what it saw.
type watch struct {
	stop   context.CancelFunc
	done   chan struct{}
	finish func() effect
}

// watch starts gathering the evidence of a fault just switched on. A nil
// watch means the evidence is taken elsewhere (after the load, or at once).
func (r *run) watch(ctx context.Context, f fault) *watch {
	pollCtx, stop := context.WithCancel(ctx)
	w := &watch{stop: stop, done: make(chan struct{})}
	eff := effect{Fault: f.Describe()}
	switch {
	case f.GRPC != nil:
		r.watchGRPC(ctx, w, f.GRPC, eff)
	case f.Network != nil && r.watchNetwork(ctx, pollCtx, w, f, eff):
	default:
		stop()
		return nil
	}
	return w
}

// poll calls each every effectPoll until ctx ends, then closes w.done.
func (w *watch) poll(ctx context.Context, each func()) {
	go func() {
		defer close(w.done)
		t := time.NewTicker(effectPoll)
		defer t.Stop()
		for {
			each()
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// watchGRPC counts the answers with the fault's code before and after it.
func (r *run) watchGRPC(ctx context.Context, w *watch, g *grpcFault, eff effect) {
	var c codes.Code
	_ = c.UnmarshalJSON([]byte(strconv.Quote(g.Code)))
	labels := map[string]string{"code": c.String()}
	before, _ := r.metric(ctx, g.Service, promscrape.SeriesRequests, labels)
	close(w.done)
	w.finish = func() effect {
		if g.Code == "" {
			eff.Evidence = "a delay-only gRPC fault: the fault window's latency"
			eff.Observed, eff.Seen = "not measured", true
			return eff
		}
		after, ok := r.metric(ctx, g.Service, promscrape.SeriesRequests, labels)
		eff.Evidence = fmt.Sprintf("%s answered %s on its RPCs (%s{code=%q})", g.Service, c, promscrape.SeriesRequests, c.String())
		eff.Observed = fmt.Sprintf("%.0f %s answer(s) during the fault", after-before, c)
		if !ok {
			eff.Observed = "could not scrape " + g.Service + "'s /metrics"
		}
		eff.Seen = ok && after > before
		return eff
	}
}

// watchNetwork watches a fault on a dependency's proxy; it returns false
// when the effect is judged after the load (latency) instead.
func (r *run) watchNetwork(ctx, pollCtx context.Context, w *watch, f fault, eff effect) bool {
	dep := f.Network.Dependency
	stats := r.fleet.proxies[dep].Stats()
	proxied := fmt.Sprintf("the proxy had accepted %d connection(s) to %s, %d open when the fault began", stats.Accepted, dep, stats.Active)
	switch {
	case dep == depRedis:
		r.watchRedis(ctx, pollCtx, w, eff, stats.Accepted, proxied)
	case dep == depNATS && f.Network.Partition != "":
		r.watchPartition(ctx, pollCtx, w, eff, stats.Accepted, proxied)
	case f.Network.Latency > 0 && f.Network.Bandwidth == 0:
		// Judged after the load, from the requests' latency.
		r.mu.Lock()
		r.latency = append(r.latency, latencyMark{Fault: f, Proxied: proxied, DelayedBefore: stats.Delayed})
		r.mu.Unlock()
		return false
	default:
		close(w.done)
		w.finish = func() effect {
			eff.Evidence = "connections passed through the proxy"
			eff.Observed = proxied
			eff.Seen = stats.Accepted > 0
			return eff
		}
	}
	return true
}

// watchRedis sees user's cache lose Redis: hits before, its connection
// down during the fault.
func (r *run) watchRedis(ctx, pollCtx context.Context, w *watch, eff effect, accepted int64, proxied string) {
	hits, _ := r.metric(ctx, "user", "slipway_cache_requests_total", map[string]string{"result": "hit"})
	var mu sync.Mutex
	downSeen := false
	w.poll(pollCtx, func() {
		snap, err := r.scrape(pollCtx, "user")
		if err != nil {
			return
		}
		// The cache's connection, not a rate limiter's.
		up, ok := promscrape.GaugeSum(snap, "slipway_redis_up", func(m model.Metric) bool {
			return strings.HasPrefix(string(m["client"]), "cache-")
		})
		mu.Lock()
		downSeen = downSeen || (ok && up == 0)
		mu.Unlock()
	})
	w.finish = func() effect {
		mu.Lock()
		defer mu.Unlock()
		eff.Evidence = "user's cache used Redis before the fault (cache hits) and lost it during it (slipway_redis_up 0)"
		eff.Observed = fmt.Sprintf("%.0f cache hit(s) before; slipway_redis_up went to 0: %t; %s", hits, downSeen, proxied)
		eff.Seen = accepted > 0 && hits > 0 && downSeen
		return eff
	}
}

// watchPartition sees a partition from NATS: orders keep being
// acknowledged, but their events stop reaching the stream (read from the
// broker directly, not through the proxy), and the outbox backs up.
func (r *run) watchPartition(ctx, pollCtx context.Context, w *watch, eff effect, accepted int64, proxied string) {
	seq0, err0 := streamLastSeq(ctx, r.fleet.natsURL)
	acked0 := r.ackedCount()
	var mu sync.Mutex
	var maxAge float64
	w.poll(pollCtx, func() {
		if age, ok := r.metric(pollCtx, "order", promscrape.SeriesOutboxAge, nil); ok {
			mu.Lock()
			maxAge = max(maxAge, age)
			mu.Unlock()
		}
	})
	w.finish = func() effect {
		seq1, err1 := streamLastSeq(ctx, r.fleet.natsURL)
		acked := r.ackedCount() - acked0
		mu.Lock()
		defer mu.Unlock()
		eff.Evidence = "orders were acknowledged during the fault but fewer than half of their events reached the ORDERS stream"
		if err := errors.Join(err0, err1); err != nil {
			eff.Observed = "could not read the stream: " + err.Error()
			return eff
		}
		eff.Observed = fmt.Sprintf("%d order(s) acknowledged, %d event(s) reached the stream; order's oldest unpublished event peaked at %.1f s; %s",
			acked, seq1-seq0, maxAge, proxied)
		eff.Seen = accepted > 0 && acked > 0 && 2*(seq1-seq0) < uint64(acked)
		return eff
	}
}

// ackedCount is how many orders the load saw acknowledged so far.
func (r *run) ackedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.acked)
}

// streamLastSeq reads the last sequence of the order stream.
func streamLastSeq(ctx context.Context, natsURL string) (uint64, error) {
	nc, err := nats.Connect(natsURL, nats.Timeout(2*time.Second))
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.LastSeq, nil
}

// end stops the watcher and records its evidence.
func (r *run) endWatch(w *watch) {
	if w == nil {
		return
	}
	w.stop()
	<-w.done
	eff := w.finish()
	r.addEffect(eff)
}

func (r *run) addEffect(e effect) {
	r.mu.Lock()
	r.effects = append(r.effects, e)
	r.mu.Unlock()
}

// latencyMark is a latency fault whose effect is judged after the load.
type latencyMark struct {
	Fault         fault
	Proxied       string
	DelayedBefore int64 // the proxy's Stats.Delayed when the fault began
}

// latencyEffect judges a latency fault by the replies the proxy held back
// while it was on (delayed: its Stats.Delayed now, less DelayedBefore): the
// services' traffic went through the proxy and was slowed. CreateOrder's
// p50 before and during the fault is reported beside it, not judged: with a
// few dozen requests on a busy machine, the machine's noise can hide a few
// milliseconds per round trip (a CI run saw p50 758 ms before the fault and
// 595 ms during it).
func latencyEffect(m latencyMark, samples []sample, delayed int64) effect {
	f, proxied := m.Fault, m.Proxied
	before := windowStats(samples, 0, f.At.D())
	during := windowStats(samples, f.At.D(), f.At.D()+f.For.D())
	eff := effect{
		Fault:    f.Describe(),
		Evidence: "the proxy held replies back by the added latency while the services' requests went through it",
		Observed: fmt.Sprintf("%d repl(ies) held back; CreateOrder p50 %sms before, %sms during (%d and %d requests); %s",
			delayed-m.DelayedBefore, loadgen.FormatMS(before.P50), loadgen.FormatMS(during.P50), before.Requests, during.Requests, proxied),
	}
	eff.Seen = during.Requests > 0 && delayed > m.DelayedBefore
	return eff
}
