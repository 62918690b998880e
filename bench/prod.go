package main

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/redis/go-redis/v9"
)

// prodStore is the production shape's storage: a fresh Postgres schema and
// a fresh Redis key prefix, both dropped when the run ends, so a benchmark
// never touches anyone's data.
type prodStore struct {
	db          *sql.DB
	rdb         *redis.Client
	schema      string
	dsn         string // with search_path set to schema
	redisURL    string
	redisPrefix string
}

func newProdStore(ctx context.Context, dsn, redisURL string) (*prodStore, error) {
	if dsn == "" || redisURL == "" {
		return nil, fmt.Errorf("needs -postgres and -redis (or LATCHKEY_TEST_POSTGRES_DSN and LATCHKEY_TEST_REDIS_URL), or leave its scenarios out with -only")
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	ps := &prodStore{db: db, schema: "lk_bench_" + randomString(6), redisURL: redisURL}
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+ps.schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: create schema: %w", err)
	}
	ps.dsn, err = withQuery(dsn, "search_path", ps.schema)
	if err != nil {
		ps.drop()
		return nil, err
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		ps.drop()
		return nil, fmt.Errorf("redis: %w", err)
	}
	ps.rdb = redis.NewClient(opt)
	if err := ps.rdb.Ping(ctx).Err(); err != nil {
		ps.drop()
		return nil, fmt.Errorf("redis: %w", err)
	}
	ps.redisPrefix = "lkbench:" + randomString(6) + ":"
	logf("production shape: Postgres schema %s, Redis prefix %s", ps.schema, ps.redisPrefix)
	return ps, nil
}

// env configures latchkey for the production shape: durable data in
// Postgres, tokens in Redis.
func (ps *prodStore) env() []string {
	return []string{
		"LATCHKEY_STORAGE__DRIVER=postgres",
		"LATCHKEY_STORAGE__POSTGRES__DSN=" + ps.dsn,
		"LATCHKEY_STORAGE__REDIS__URL=" + ps.redisURL,
		"LATCHKEY_STORAGE__REDIS__PREFIX=" + ps.redisPrefix,
		"LATCHKEY_STORAGE__TOKENS=redis",
	}
}

// drop removes the schema and the keys.
func (ps *prodStore) drop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ps.db != nil {
		if _, err := ps.db.ExecContext(ctx, "DROP SCHEMA IF EXISTS "+ps.schema+" CASCADE"); err != nil {
			logf("drop schema %s: %v", ps.schema, err)
		}
		ps.db.Close()
	}
	if ps.rdb != nil && ps.redisPrefix != "" {
		it := ps.rdb.Scan(ctx, 0, ps.redisPrefix+"*", 1000).Iterator()
		var keys []string
		for it.Next(ctx) {
			keys = append(keys, it.Val())
			if len(keys) == 1000 {
				ps.rdb.Unlink(ctx, keys...)
				keys = keys[:0]
			}
		}
		if len(keys) > 0 {
			ps.rdb.Unlink(ctx, keys...)
		}
		ps.rdb.Close()
	}
}

// withQuery sets a query parameter of a URL-form DSN.
func withQuery(dsn, key, value string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("-postgres must be a postgres:// URL")
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// metricsSnapshot is the text of latchkey's /metrics at one moment.
type metricsSnapshot []string

// scrape reads base's /metrics; nil when it does not answer.
func scrape(ctx context.Context, base string) metricsSnapshot {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil
	}
	resp, err := setupClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var lines metricsSnapshot
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

// sum adds the samples of the metric name whose labels hold label (any
// when empty); ok is false when there is none.
func (m metricsSnapshot) sum(name, label string) (total float64, ok bool) {
	for _, line := range m {
		rest, found := strings.CutPrefix(line, name)
		if !found || rest == "" || (rest[0] != ' ' && rest[0] != '{') || !strings.Contains(rest, label) {
			continue
		}
		f := strings.Fields(line)
		if v, err := strconv.ParseFloat(f[len(f)-1], 64); err == nil {
			total += v
			ok = true
		}
	}
	return total, ok
}

// delta is how much a counter grew from before to m.
func (m metricsSnapshot) delta(before metricsSnapshot, name, label string) (float64, bool) {
	a, ok1 := m.sum(name, label)
	b, ok2 := before.sum(name, label)
	return a - b, ok1 && ok2
}

// The counters latchkey exports that the report reads.
const (
	redisRoundTripsMetric = "latchkey_redis_round_trips_total"
	cacheMetric           = "latchkey_verified_token_cache_total"
)
