package main

import (
	"context"
	"crypto/rand"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// The server's default argon2id parameters (OWASP: m=19 MiB, t=2, p=1).
const (
	argonTime    = 2
	argonMemory  = 19456
	argonThreads = 1
	argonKeyLen  = 32
)

func argonWorkers() int { return runtime.NumCPU() }

// argonRate hashes with the server's parameters in NumCPU goroutines for d
// and reports hashes/s: the ceiling of the password grant on this machine.
func argonRate(ctx context.Context, d time.Duration) (result, error) {
	n := argonWorkers()
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	password := []byte("correct horse battery staple")
	lats := make([][]time.Duration, n)
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				argon2.IDKey(password, salt, argonTime, argonMemory, argonThreads, argonKeyLen)
				lats[i] = append(lats[i], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	return argonResult(n, elapsed, lats), nil
}

func argonResult(n int, elapsed time.Duration, lats [][]time.Duration) result {
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	r := result{Scenario: scenarioArgon2id, Conns: n, Duration: elapsed, Seconds: elapsed.Seconds(), Requests: len(all)}
	r.RPS = float64(len(all)) / elapsed.Seconds()
	r.P50, r.P90, r.P99 = percentiles(all)
	r.P50ms, r.P90ms, r.P99ms = ms(r.P50), ms(r.P90), ms(r.P99)
	return r
}

// percentiles sorts lat and returns its p50, p90 and p99.
func percentiles(lat []time.Duration) (time.Duration, time.Duration, time.Duration) {
	if len(lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lat)
	at := func(p int) time.Duration { return lat[min(len(lat)-1, len(lat)*p/100)] }
	return at(50), at(90), at(99)
}
