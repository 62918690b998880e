package redisstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/latchkey-auth/latchkey/storage"
)

// respServer is a TCP server speaking just enough RESP to answer every
// command with reply ("" never answers): a Redis that is loading, read-only
// after a failover, or hung. Like a Redis before 6, it answers HELLO with
// an unknown command, so the client goes on to send the command.
func respServer(t *testing.T, reply string) string {
	t.Helper()
	return respServerFunc(t, func(cmd string) string {
		if reply != "" && strings.EqualFold(cmd, "HELLO") {
			return "-ERR unknown command 'HELLO'\r\n"
		}
		return reply
	})
}

// respServerFunc answers each command with what reply returns for its
// name; "" does not answer.
func respServerFunc(t *testing.T, reply func(cmd string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { <-done; c.Close() })
			wg.Go(func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					name, err := readCommand(r)
					if err != nil {
						return
					}
					if answer := reply(name); answer != "" {
						if _, err := c.Write([]byte(answer)); err != nil {
							return
						}
					}
				}
			})
		}
	})
	return ln.Addr().String()
}

// readCommand reads one RESP array of bulk strings and returns the first.
func readCommand(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "*")))
	if err != nil {
		return "", err
	}
	var name string
	for i := range 2 * n {
		s, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if i == 1 {
			name = strings.TrimSpace(s)
		}
	}
	return name, nil
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

// newTestRedis is a client that fails fast: no retries, short timeouts.
func newTestRedis(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: addr, PoolSize: 1, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: 300 * time.Millisecond, ReadTimeout: 300 * time.Millisecond,
		WriteTimeout: 300 * time.Millisecond, PoolTimeout: 100 * time.Millisecond,
		ContextTimeoutEnabled: true, Protocol: 2,
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// storeCalls are a plain command, a script, a pipeline and a WATCH
// transaction of each interface the Store implements.
func storeCalls(s *Store) map[string]func(context.Context) error {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return map[string]func(context.Context) error{
		"Ping": s.Ping,
		"AccessToken": func(ctx context.Context) error {
			_, err := s.AccessToken(ctx, "h", now)
			return err
		},
		"Rotate": func(ctx context.Context) error {
			_, err := s.Rotate(ctx, storage.TokenRef{FamilyID: "f", Hash: "h0"}, "", storage.RefreshToken{Hash: "h1"}, storage.Rotation{Now: now})
			return err
		},
		"Revoked": func(ctx context.Context) error {
			_, err := s.Revoked(ctx, storage.RevocationCheck{JTI: "j", FamilyID: "f"}, now)
			return err
		},
		"FailAttempt": func(ctx context.Context) error {
			_, err := s.FailAttempt(ctx, "k", storage.AttemptLimit{Failures: 1}, now)
			return err
		},
		"ConsumeCode": func(ctx context.Context) error {
			_, err := s.ConsumeCode(ctx, "c", now)
			return err
		},
		"UpdateLogin": func(ctx context.Context) error {
			_, err := s.UpdateLogin(ctx, "l", now, func(*storage.LoginSession) error { return nil })
			return err
		},
	}
}

// Every way a real go-redis client reports that Redis cannot serve comes
// out of every kind of store method as ErrUnavailable, quickly, with the
// driver's error kept for logs.
func TestRedisFailuresAreUnavailable(t *testing.T) {
	cases := []struct {
		name   string
		client func(t *testing.T) (*redis.Client, context.Context)
	}{
		{"connection refused", func(t *testing.T) (*redis.Client, context.Context) {
			return newTestRedis(t, closedPort(t)), t.Context()
		}},
		{"LOADING after a restart", replying("-LOADING Redis is loading the dataset in memory\r\n")},
		{"READONLY after a failover", replying("-READONLY You can't write against a read only replica.\r\n")},
		{"MASTERDOWN", replying("-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n")},
		{"CLUSTERDOWN", replying("-CLUSTERDOWN The cluster is down\r\n")},
		{"TRYAGAIN", replying("-TRYAGAIN Multiple keys request during rehashing of slot\r\n")},
		{"NOREPLICAS", replying("-NOREPLICAS Not enough good replicas to write.\r\n")},
		{"BUSY with a long script", replying("-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n")},
		{"too many clients", replying("-ERR max number of clients reached\r\n")},
		{"out of memory", replying("-OOM command not allowed when used memory > 'maxmemory'.\r\n")},
		{"a read timeout", replying("")},
		{"the request's deadline", func(t *testing.T) (*redis.Client, context.Context) {
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			t.Cleanup(cancel)
			return newTestRedis(t, respServer(t, "")), ctx
		}},
		{"a pool with no free connection", func(t *testing.T) (*redis.Client, context.Context) {
			// Answers the connection's setup and PING; hangs on the rest
			// (pipelines get their connections from a pool of their own).
			c := newTestRedis(t, respServerFunc(t, func(cmd string) string {
				switch strings.ToUpper(cmd) {
				case "HELLO":
					return "-ERR unknown command 'HELLO'\r\n"
				case "CLIENT":
					return "+OK\r\n"
				case "PING":
					return "+PONG\r\n"
				}
				return ""
			}))
			held := c.Conn() // takes the pool's only connection until closed
			t.Cleanup(func() { _ = held.Close() })
			if err := held.Ping(t.Context()).Err(); err != nil {
				t.Fatal(err)
			}
			return c, t.Context()
		}},
		{"a closed client", func(t *testing.T) (*redis.Client, context.Context) {
			c := newTestRedis(t, closedPort(t))
			_ = c.Close()
			return c, t.Context()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, ctx := tc.client(t)
			for name, call := range storeCalls(New(Options{Client: c})) {
				start := time.Now()
				err := call(ctx)
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("%s: failing took %v", name, d)
				}
				if !errors.Is(err, storage.ErrUnavailable) {
					t.Errorf("%s: %v, want ErrUnavailable", name, err)
					continue
				}
				if msg := err.Error(); !strings.HasPrefix(msg, "redisstore: ") || strings.HasSuffix(msg, storage.ErrUnavailable.Error()) {
					t.Errorf("%s: %q does not say where it comes from or hides its cause", name, err)
				}
				if wrapped := fmt.Errorf("rotate: %w", err); !errors.Is(wrapped, storage.ErrUnavailable) {
					t.Errorf("%s: ErrUnavailable is lost when wrapped", name)
				}
			}
		})
	}
}

func replying(reply string) func(t *testing.T) (*redis.Client, context.Context) {
	return func(t *testing.T) (*redis.Client, context.Context) {
		return newTestRedis(t, respServer(t, reply)), t.Context()
	}
}

// Answers about the data and errors that are bugs are not outages.
func TestResultsAndBugsAreNotUnavailable(t *testing.T) {
	for _, reply := range []string{
		"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
		"-ERR unknown command 'EVALSHA'\r\n",
		"-ERR Error running script (call to f_0123): @user_script:1: bad\r\n",
	} {
		c := newTestRedis(t, respServer(t, reply))
		for name, call := range storeCalls(New(Options{Client: c})) {
			if err := call(t.Context()); err == nil || errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("%q: %s: %v, want an error that is not ErrUnavailable", reply, name, err)
			}
		}
	}
	for _, err := range []error{
		notFound("get family"),
		conflict("create family"),
		translate("rotate", storage.ErrReused),
		translate("consume code", storage.ErrCodeReused),
		translate("get access token", errors.New("decode: bad JSON")),
		translate("update login session", context.Canceled),
		translate("get access token", redis.Nil),
	} {
		if errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%v is ErrUnavailable", err)
		}
	}
}
