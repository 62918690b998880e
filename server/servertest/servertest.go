// Package servertest starts a real latchkey server for the tests of other
// packages (the examples): embedded SQLite in a temporary folder, a
// loopback port, fast argon2id parameters, and the bootstrap admin
// password and demo client secret the test chooses. It stops the server
// when the test ends.
package servertest

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/local"
	"github.com/latchkey-auth/latchkey/cmd/latchkey/stores"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/server"
)

// Options are the test's choices.
type Options struct {
	// AdminPassword and ClientSecret fix the bootstrap admin's password and
	// the demo client's secret.
	AdminPassword, ClientSecret string
	// Mutate, if not nil, changes the configuration before the server opens.
	Mutate func(*config.Config)
}

// Start runs a latchkey server until t ends and returns its issuer URL
// (http://127.0.0.1:PORT).
func Start(t testing.TB, opts Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen = ln.Addr().String()
	cfg.Issuer = "http://" + ln.Addr().String()
	cfg.DataDir = t.TempDir()
	cfg.Log.Level = "warn"
	if opts.Mutate != nil {
		opts.Mutate(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.Open(ctx, server.Options{
		Config: cfg,
		Stores: stores.Opener{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Backends: backends.Registry{"local": func() backends.Config {
			return &local.Config{Argon2: local.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}}
		}},
		Environ: []string{"LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD=" + opts.AdminPassword, "LATCHKEY_BOOTSTRAP_CLIENT_SECRET=" + opts.ClientSecret},
		Out:     io.Discard,
	})
	if err != nil {
		cancel()
		ln.Close()
		t.Fatalf("server.Open: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return cfg.Issuer
}
