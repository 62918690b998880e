// Command products is a small products API that accepts latchkey access
// tokens through the resourceserver kit: anyone reads, ProductManagers
// change, holders of store.can_publish_product publish, staff delete. See
// README.md.
//
// Environment: PRODUCTS_ISSUER (default http://localhost:8080),
// PRODUCTS_AUDIENCE (default: the issuer, latchkey's default audience),
// PRODUCTS_LISTEN (default 127.0.0.1:8000), and PRODUCTS_CLIENT_ID and
// PRODUCTS_CLIENT_SECRET to check every token by introspection, so a
// revoked token is refused at once.
package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	rs "github.com/latchkey-auth/latchkey/resourceserver"
)

func main() {
	if err := run(); err != nil {
		slog.Error("products", "err", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := rs.Config{Issuer: env("PRODUCTS_ISSUER", "http://localhost:8080")}
	cfg.Audience = env("PRODUCTS_AUDIENCE", cfg.Issuer)
	if id := os.Getenv("PRODUCTS_CLIENT_ID"); id != "" {
		cfg.Introspection = &rs.Introspection{ClientID: id, ClientSecret: os.Getenv("PRODUCTS_CLIENT_SECRET"),
			IntrospectJWTs: true, CacheTTL: -1}
	}
	v, err := rs.New(ctx, cfg)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: env("PRODUCTS_LISTEN", "127.0.0.1:8000"), Handler: NewHandler(v),
		ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("products API listening", "addr", srv.Addr, "issuer", cfg.Issuer)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
