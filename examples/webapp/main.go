// Command webapp is a small web application that signs its users in with
// latchkey: the authorization code flow with PKCE, state and nonce
// (golang.org/x/oauth2), the ID token verified with go-oidc, and sign-out
// through latchkey's end_session_endpoint. See README.md.
//
// Flags (or environment): -issuer (WEBAPP_ISSUER, default
// http://localhost:8080), -client-id (WEBAPP_CLIENT_ID, default demo),
// -client-secret (WEBAPP_CLIENT_SECRET), -listen (WEBAPP_LISTEN, default
// 127.0.0.1:8090) and -url, the address users open (WEBAPP_URL, default
// http:// + listen; its /callback is the redirect URI to register).
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		slog.Error("webapp", "err", err)
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
	var c Config
	listen := flag.String("listen", env("WEBAPP_LISTEN", "127.0.0.1:8090"), "address to listen on")
	flag.StringVar(&c.Issuer, "issuer", env("WEBAPP_ISSUER", "http://localhost:8080"), "latchkey's issuer URL")
	flag.StringVar(&c.ClientID, "client-id", env("WEBAPP_CLIENT_ID", "demo"), "client_id registered in latchkey")
	flag.StringVar(&c.ClientSecret, "client-secret", os.Getenv("WEBAPP_CLIENT_SECRET"), "client secret (empty for a public client)")
	flag.StringVar(&c.URL, "url", os.Getenv("WEBAPP_URL"), "this app's URL as users open it (default http://LISTEN)")
	flag.Parse()
	if c.URL == "" {
		c.URL = "http://" + *listen
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := New(ctx, c) // reads latchkey's discovery document: latchkey must be up
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *listen, Handler: app, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("webapp listening", "url", c.URL, "redirect_uri", c.URL+"/callback", "issuer", c.Issuer)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
