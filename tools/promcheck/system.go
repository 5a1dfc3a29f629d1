package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// system is what a run starts: slipway dev and Prometheus.
type system struct {
	work string
	dev  *Process
	srv  *Process // Prometheus
	prom *Prom
}

// startSystem starts slipway dev and Prometheus and waits until every
// service answers SERVING and Prometheus scrapes each of them. What it
// started is in the returned system even on error; stop it.
func startSystem(ctx context.Context, o options, svcs []service, ruleFiles []string, progress func(string, ...any)) (*system, error) {
	s := &system{work: o.work}
	pg, err := url.Parse(o.postgres)
	if err != nil || pg.Scheme == "" {
		return s, usageError{fmt.Errorf("--postgres %q: not a URL", o.postgres)}
	}
	progress("starting slipway dev (it builds the services first) on PostgreSQL %s and Redis %s; log %s", pg.Redacted(), o.redis, filepath.Join(o.work, "dev.log"))
	s.dev, err = Start("slipway dev", filepath.Join(o.work, "dev.log"), []string{"REDIS_URL=" + o.redis},
		o.slipway, "dev", "--root", o.root, "--no-watch", "--color", "never", "--console-port", "0",
		"--postgres", o.postgres, "--postgres-prefix", "slipway_promcheck_",
		"--grpc-port-base", strconv.Itoa(o.grpcBase), "--http-port-base", strconv.Itoa(o.httpBase),
		"--ready-timeout", o.readyTimeout.String(), "--stop-timeout", "10s")
	if err != nil {
		return s, err
	}

	promPort, err := freePort(ctx)
	if err != nil {
		return s, err
	}
	var targets []string
	for _, svc := range svcs {
		targets = append(targets, "127.0.0.1:"+strconv.Itoa(o.httpBase+svc.HTTPPort-svcs[0].HTTPPort))
	}
	config := filepath.Join(o.work, "prometheus.yml")
	if err := os.WriteFile(config, []byte(scrapeConfig(targets, ruleFiles)), 0o600); err != nil {
		return s, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(promPort)
	progress("starting %s on %s; log %s", o.prometheus, addr, filepath.Join(o.work, "prometheus.log"))
	s.srv, err = Start("prometheus", filepath.Join(o.work, "prometheus.log"), nil,
		o.prometheus, "--config.file="+config, "--storage.tsdb.path="+filepath.Join(o.work, "tsdb"),
		"--web.listen-address="+addr, "--storage.tsdb.retention.time=1h")
	if err != nil {
		return s, err
	}
	if s.prom, err = NewProm("http://" + addr); err != nil {
		return s, err
	}

	ctx, cancel := context.WithTimeout(ctx, o.readyTimeout)
	defer cancel()
	t0 := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for last := time.Now(); ; {
		serving := s.serving(ctx, o, svcs)
		up, total, scrapeErr, promErr := s.prom.TargetsUp(ctx)
		if serving == len(svcs) && promErr == nil && total == len(svcs) && up == total {
			progress("%d services SERVING and scraped after %s", serving, time.Since(t0).Round(time.Second))
			return s, nil
		}
		if time.Since(last) >= 10*time.Second {
			last = time.Now()
			detail := scrapeErr
			if promErr != nil {
				detail = promErr.Error()
			}
			progress("waiting: %d/%d services SERVING, %d/%d targets up (%s) %s", serving, len(svcs), up, total, time.Since(t0).Round(time.Second), detail)
		}
		select {
		case <-s.dev.Exited():
			return s, fmt.Errorf("slipway dev exited (%w); last lines of %s:\n%s", exitErr(s.dev), filepath.Join(o.work, "dev.log"), tail(filepath.Join(o.work, "dev.log"), 30))
		case <-s.srv.Exited():
			return s, fmt.Errorf("prometheus exited (%w); last lines of %s:\n%s", exitErr(s.srv), filepath.Join(o.work, "prometheus.log"), tail(filepath.Join(o.work, "prometheus.log"), 30))
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return s, fmt.Errorf("interrupted while waiting for the system: %w", ctx.Err())
			}
			return s, fmt.Errorf("the system was not up in time: %w; see %s", ctx.Err(), o.work)
		case <-tick.C:
		}
	}
}

// serving counts the services whose gRPC health check answers SERVING.
func (s *system) serving(ctx context.Context, o options, svcs []service) int {
	n := 0
	for _, svc := range svcs {
		addr := "127.0.0.1:" + strconv.Itoa(o.grpcBase+svc.GRPCPort-svcs[0].GRPCPort)
		cmd := exec.CommandContext(ctx, o.slipway, "probe", "--addr", addr, "--timeout", "1s") //nolint:gosec // our own binary
		if cmd.Run() == nil {
			n++
		}
	}
	return n
}

// load runs slipway load (GetMe and CreateOrder) against the system and
// prints progress while it runs. A load that fails is an error: the
// dashboards would be judged on too little traffic.
func (s *system) load(ctx context.Context, o options, svcs []service, progress func(string, ...any)) error {
	addr := func(name string) string {
		for _, svc := range svcs {
			if svc.Name == name {
				return "127.0.0.1:" + strconv.Itoa(o.grpcBase+svc.GRPCPort-svcs[0].GRPCPort)
			}
		}
		return ""
	}
	var missing []string
	for _, n := range []string{"user", "order", "inventory", "notification"} {
		if addr(n) == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the registry has no %s: slipway load needs it", strings.Join(missing, ", "))
	}
	logPath := filepath.Join(o.work, "load.log")
	progress("load: GetMe + CreateOrder at %g/s for %s; log %s", o.rate, o.load, logPath)
	p, err := Start("slipway load", logPath, nil, o.slipway, "load", "--scenario", "create-order", "--user-lookups",
		"--rate", strconv.FormatFloat(o.rate, 'f', -1, 64), "--duration", o.load.String(),
		"--user-addr", addr("user"), "--order-addr", addr("order"), "--inventory-addr", addr("inventory"),
		"--notification-addr", addr("notification"), "--out", filepath.Join(o.work, "load.json"))
	if err != nil {
		return err
	}
	defer p.Stop(5 * time.Second)
	// Besides its own duration: registering users and the stragglers' timeout.
	ctx, cancel := context.WithTimeout(ctx, o.load+time.Minute)
	defer cancel()
	t0 := time.Now()
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-p.Exited():
			if err := p.Err(); err != nil {
				return fmt.Errorf("slipway load: %w; last lines of %s:\n%s", err, logPath, tail(logPath, 20))
			}
			progress("load finished after %s: %s", time.Since(t0).Round(time.Second), firstLine(logPath, "requests"))
			return nil
		case <-s.dev.Exited():
			return fmt.Errorf("slipway dev exited during the load (%w); see %s", exitErr(s.dev), filepath.Join(o.work, "dev.log"))
		case <-ctx.Done():
			return fmt.Errorf("slipway load: %w", ctx.Err())
		case <-tick.C:
			progress("load: %s of %s", time.Since(t0).Round(time.Second), o.load)
		}
	}
}

// stop stops Prometheus and then the system.
func (s *system) stop(progress func(string, ...any)) {
	if s.srv != nil {
		s.srv.Stop(10 * time.Second)
	}
	if s.dev != nil {
		progress("stopping slipway dev")
		s.dev.Stop(30 * time.Second)
	}
}

// exitErr is why p exited, which is an error even when it exited 0: it
// should have run until stopped.
func exitErr(p *Process) error {
	if err := p.Err(); err != nil {
		return err
	}
	return errors.New("exit status 0")
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	data, err := os.ReadFile(path) //nolint:gosec // G304: a log this run wrote
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// firstLine is the first line of the file at path that starts with prefix.
func firstLine(path, prefix string) string {
	data, err := os.ReadFile(path) //nolint:gosec // G304: a log this run wrote
	if err != nil {
		return err.Error()
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if strings.HasPrefix(line, prefix) {
			return strings.Join(strings.Fields(line), " ")
		}
	}
	return errors.New("no " + prefix + " line").Error()
}
