// Command mcp-server is a small MCP-style JSON-RPC server (tools/list and
// tools/call over HTTP POST) protected by latchkey through the
// resource-server kit, discoverable the way the MCP authorization
// specification asks: a request without a token gets a 401 whose
// WWW-Authenticate names the Protected Resource Metadata (RFC 9728), which
// names latchkey as the authorization server; tokens must be issued for
// this server's URI (RFC 8707 resource indicator, the token's aud). See
// README.md.
//
// Environment: MCP_ISSUER (default http://localhost:8080), MCP_RESOURCE
// (this server's URI as registered in latchkey's resources:, default
// http://127.0.0.1:8070/mcp) and MCP_LISTEN (default 127.0.0.1:8070).
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
)

func main() {
	if err := run(); err != nil {
		slog.Error("mcp-server", "err", err)
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
	issuer := env("MCP_ISSUER", "http://localhost:8080")
	resource := env("MCP_RESOURCE", "http://127.0.0.1:8070/mcp")
	h, err := New(ctx, Options{Issuer: issuer, Resource: resource})
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: env("MCP_LISTEN", "127.0.0.1:8070"), Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	slog.Info("MCP server listening", "addr", srv.Addr, "resource", resource, "issuer", issuer)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
