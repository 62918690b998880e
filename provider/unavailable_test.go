package provider

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/storage"
)

// respServer is a TCP server speaking just enough RESP to answer every
// command with reply ("" never answers): a Redis that is loading, read-only
// after a failover, or hung.
func respServer(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				go func() { <-done; c.Close() }()
				r := bufio.NewReader(c)
				for {
					if err := readCommand(r); err != nil {
						return
					}
					if reply != "" {
						if _, err := c.Write([]byte(reply)); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) error {
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil {
		return err
	}
	for range 2 * n {
		if _, err := r.ReadString('\n'); err != nil {
			return err
		}
	}
	return nil
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func newTestRedis(t *testing.T, addr string, poolSize int) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: addr, PoolSize: poolSize, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond,
		WriteTimeout: 300 * time.Millisecond, PoolTimeout: 100 * time.Millisecond,
		ContextTimeoutEnabled: true, Protocol: 2,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Every way a real go-redis client reports that Redis cannot serve is
// answered 503 temporarily_unavailable, quickly, whether or not the error
// went through storeError first; errors that are not outages are not.
func TestRedisFailuresAreTemporarilyUnavailable(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		err  func(t *testing.T) error
	}{
		{"connection refused", func(t *testing.T) error {
			return newTestRedis(t, closedPort(t), 1).Get(ctx, "k").Err()
		}},
		{"LOADING after a restart", func(t *testing.T) error {
			return newTestRedis(t, respServer(t, "-LOADING Redis is loading the dataset in memory\r\n"), 1).Get(ctx, "k").Err()
		}},
		{"READONLY after a failover", func(t *testing.T) error {
			return newTestRedis(t, respServer(t, "-READONLY You can't write against a read only replica.\r\n"), 1).Set(ctx, "k", "v", 0).Err()
		}},
		{"MASTERDOWN", func(t *testing.T) error {
			return newTestRedis(t, respServer(t, "-MASTERDOWN Link with MASTER is down\r\n"), 1).Get(ctx, "k").Err()
		}},
		{"a read timeout", func(t *testing.T) error {
			return newTestRedis(t, respServer(t, ""), 1).Get(ctx, "k").Err()
		}},
		{"the request's deadline", func(t *testing.T) error {
			c := newTestRedis(t, respServer(t, ""), 1)
			dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			return c.Get(dctx, "k").Err()
		}},
		{"a pool with no free connection", func(t *testing.T) error {
			c := newTestRedis(t, respServer(t, ""), 1)
			go func() { _ = c.Get(ctx, "hold").Err() }() // holds the only connection until its read timeout
			time.Sleep(50 * time.Millisecond)
			return c.Get(ctx, "k").Err()
		}},
		{"a closed client", func(t *testing.T) error {
			c := newTestRedis(t, closedPort(t), 1)
			_ = c.Close()
			return c.Get(ctx, "k").Err()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.err(t)
			if err == nil {
				t.Fatal("the command succeeded")
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("failing took %v", d)
			}
			for _, wrapped := range []error{
				fmt.Errorf("redisstore: rotate: %w", err),
				fmt.Errorf("rotate refresh token: %w", storeError(fmt.Errorf("redisstore: rotate: %w", err))),
			} {
				if !IsUnavailable(wrapped) {
					t.Errorf("IsUnavailable(%v) = false", wrapped)
				}
				e := AsError(wrapped)
				if e.Code != "temporarily_unavailable" || e.Status != http.StatusServiceUnavailable {
					t.Errorf("AsError(%v) = %d %s", wrapped, e.Status, e.Code)
				}
				if strings.Contains(e.Description, "redis") || strings.Contains(e.Description, "127.0.0.1") {
					t.Errorf("the description leaks internals: %q", e.Description)
				}
			}
		})
	}
}

func TestResultsAndBugsAreNotUnavailable(t *testing.T) {
	for _, err := range []error{
		storage.ErrNotFound,
		fmt.Errorf("x: %w", storage.ErrReused),
		errors.New("template: bad"),
		redisReply("WRONGTYPE Operation against a key holding the wrong kind of value"),
		redisReply("ERR unknown command"),
	} {
		if IsUnavailable(err) {
			t.Errorf("IsUnavailable(%v) = true", err)
		}
	}
}

// redisReply is an error shaped like go-redis' error replies.
type redisReply string

func (e redisReply) Error() string { return string(e) }
func (redisReply) RedisError()     {}
