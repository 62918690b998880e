package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// result is one row of the report.
type result struct {
	Scenario   string        `json:"scenario"`
	Conns      int           `json:"conns"`
	Duration   time.Duration `json:"-"`
	Seconds    float64       `json:"duration_s"`
	Requests   int           `json:"requests"`
	Errors     int           `json:"errors"`
	RPS        float64       `json:"req_per_s"`
	P50        time.Duration `json:"-"`
	P99        time.Duration `json:"-"`
	P50ms      float64       `json:"p50_ms"`
	P99ms      float64       `json:"p99_ms"`
	AvgBytes   int           `json:"avg_response_bytes,omitempty"`
	RatioTo    string        `json:"ratio_to,omitempty"`
	RatioPct   float64       `json:"ratio_pct,omitempty"`
	GoalPct    float64       `json:"goal_pct,omitempty"`
	Pass       *bool         `json:"pass,omitempty"`
	FirstError string        `json:"first_error,omitempty"`
	// RedisRT is the Redis round trips per request, as latchkey counts
	// them (production shape only; nil when not measured).
	RedisRT *float64 `json:"redis_round_trips_per_request,omitempty"`
}

// worker is one closed-loop connection: it sends a request as soon as the
// previous one is answered.
type worker struct {
	client *http.Client
	url    string
	header http.Header
	src    bodySource
	buf    bytes.Buffer
	// Measured phase results.
	lat      []time.Duration
	errors   int
	bytes    int64
	firstErr string
}

// runScenario prepares a scenario, warms it up and measures it.
func runScenario(ctx context.Context, opts options, t *targets, sc scenario) (result, error) {
	conns, duration := sc.shape(opts)
	srv := t.servers[sc.target]
	if srv == nil {
		return result{}, fmt.Errorf("no %s server", sc.target)
	}
	spec, err := sc.prepare(ctx, t, srv)
	if err != nil {
		return result{}, err
	}
	tr := newTransport(conns)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	workers, err := newWorkers(ctx, spec, client, conns, duration)
	if err != nil {
		return result{}, err
	}
	logf("%s: %d conns, %s warmup + %s", sc.name, conns, opts.warmup, duration)
	runPhase(ctx, workers, opts.warmup, false)
	rtBefore, rtOK := redisRoundTrips(ctx, srv.url)
	start := time.Now()
	runPhase(ctx, workers, duration, true)
	elapsed := time.Since(start)
	rtAfter, rtOK2 := redisRoundTrips(ctx, srv.url)
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	res := summarize(sc.name, conns, elapsed, workers)
	if rtOK && rtOK2 && sc.target == targetProd && res.Requests > 0 {
		// The scrape itself is not a Redis call; requests in flight at the
		// phase edges blur the count by at most conns requests.
		v := (rtAfter - rtBefore) / float64(res.Requests)
		res.RedisRT = &v
	}
	return res, nil
}

// newTransport keeps one keep-alive connection per worker.
func newTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// newWorkers builds the workers; sources that call the server (refresh
// chains) are set up a few at a time.
func newWorkers(ctx context.Context, spec *loadSpec, client *http.Client, conns int, duration time.Duration) ([]*worker, error) {
	header := http.Header{
		"Content-Type":  {"application/x-www-form-urlencoded"},
		"Authorization": {spec.auth},
	}
	capHint := int(duration.Seconds()*40000)/conns + 1024
	workers := make([]*worker, conns)
	err := forEach(conns, 4, func(i int) error {
		src, err := spec.source(ctx, i)
		if err != nil {
			return fmt.Errorf("worker %d: %w", i, err)
		}
		workers[i] = &worker{client: client, url: spec.url, header: header.Clone(), src: src, lat: make([]time.Duration, 0, capHint)}
		return nil
	})
	return workers, err
}

// forEach runs fn(0..n-1) with at most par at once and returns the first error.
func forEach(n, par int, fn func(i int) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, par)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(i); err != nil {
				mu.Lock()
				first = firstOf(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func firstOf(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// runPhase runs every worker back to back for d; record keeps the results.
func runPhase(ctx context.Context, workers []*worker, d time.Duration, record bool) {
	if d <= 0 {
		return
	}
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx, deadline, record)
		}()
	}
	wg.Wait()
}

func (w *worker) loop(ctx context.Context, deadline time.Time, record bool) {
	for ctx.Err() == nil && time.Now().Before(deadline) {
		lat, n, errMsg := w.do(ctx)
		if ctx.Err() != nil || !record {
			continue
		}
		w.lat = append(w.lat, lat)
		w.bytes += int64(n)
		if errMsg != "" {
			w.errors++
			if w.firstErr == "" {
				w.firstErr = errMsg
			}
		}
	}
}

// do sends one request and returns its latency, the response size and an
// error message when it failed (transport error, non-2xx, bad body).
func (w *worker) do(ctx context.Context) (time.Duration, int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, strings.NewReader(w.src.body()))
	if err != nil {
		return 0, 0, err.Error()
	}
	req.Header = w.header
	start := time.Now()
	resp, err := w.client.Do(req)
	if err != nil {
		return time.Since(start), 0, err.Error()
	}
	w.buf.Reset()
	_, err = w.buf.ReadFrom(resp.Body)
	resp.Body.Close()
	lat := time.Since(start)
	body := w.buf.Bytes()
	switch {
	case err != nil:
		return lat, len(body), "read response: " + err.Error()
	case resp.StatusCode/100 != 2:
		msg := fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(body))
		_ = w.src.observe(ctx, resp.StatusCode, body)
		return lat, len(body), msg
	}
	if err := w.src.observe(ctx, resp.StatusCode, body); err != nil {
		return lat, len(body), fmt.Sprintf("%v: %s", err, bytes.TrimSpace(body))
	}
	return lat, len(body), ""
}

// summarize merges the workers' latencies and counts.
func summarize(name string, conns int, elapsed time.Duration, workers []*worker) result {
	r := result{Scenario: name, Conns: conns, Duration: elapsed, Seconds: elapsed.Seconds()}
	var all []time.Duration
	var total int64
	for _, w := range workers {
		all = append(all, w.lat...)
		r.Errors += w.errors
		total += w.bytes
		if r.FirstError == "" {
			r.FirstError = w.firstErr
		}
	}
	r.Requests = len(all)
	if r.Requests > 0 {
		r.AvgBytes = int(total / int64(r.Requests))
	}
	r.RPS = float64(r.Requests) / elapsed.Seconds()
	r.P50, r.P99 = percentiles(all)
	r.P50ms, r.P99ms = ms(r.P50), ms(r.P99)
	return r
}

// percentiles sorts lat and returns its p50 and p99.
func percentiles(lat []time.Duration) (time.Duration, time.Duration) {
	if len(lat) == 0 {
		return 0, 0
	}
	slices.Sort(lat)
	at := func(p int) time.Duration { return lat[min(len(lat)-1, len(lat)*p/100)] }
	return at(50), at(99)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
