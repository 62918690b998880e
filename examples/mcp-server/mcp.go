package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	rs "github.com/latchkey-auth/latchkey/resourceserver"
)

// Scopes the server understands: tools/list needs tools:read, tools/call
// tools:call.
const (
	ScopeRead = "tools:read"
	ScopeCall = "tools:call"
)

// Options configure the server.
type Options struct {
	// Issuer is latchkey's issuer URL.
	Issuer string
	// Resource is this server's URI: the resource latchkey's resources:
	// registers and the aud its tokens must carry. Its path is where the
	// JSON-RPC endpoint is served.
	Resource string
	// HTTPClient reaches latchkey (default: the kit's).
	HTTPClient *http.Client
}

// New builds the server's handler: the JSON-RPC endpoint at the
// resource's path, behind the kit, and the Protected Resource Metadata at
// its RFC 9728 address (and at the well-known root, where some clients
// look first).
func New(ctx context.Context, o Options) (http.Handler, error) {
	mdURL, err := rs.MetadataURL(o.Resource)
	if err != nil {
		return nil, err
	}
	mdPath, _ := rs.MetadataPath(o.Resource)
	u, _ := url.Parse(o.Resource)
	v, err := rs.New(ctx, rs.Config{
		Issuer: o.Issuer, Audience: o.Resource, ResourceMetadata: mdURL, HTTPClient: o.HTTPClient,
	})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	md := rs.MetadataHandler(rs.Metadata{
		Resource: o.Resource, AuthorizationServers: []string{o.Issuer},
		ScopesSupported: []string{ScopeRead, ScopeCall}, ResourceName: "latchkey MCP example",
	})
	mux.Handle("GET "+mdPath, md)
	if mdPath != rs.WellKnownMetadata {
		mux.Handle("GET "+rs.WellKnownMetadata, md)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	s := &rpcServer{challenge: `Bearer realm="api", resource_metadata="` + mdURL + `"`}
	mux.Handle("POST "+path, v.Require(rs.HasScope(ScopeRead))(http.HandlerFunc(s.rpc)))
	return mux, nil
}

type rpcServer struct{ challenge string }

// request and response are JSON-RPC 2.0 messages.
type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// Tool is what tools/list describes.
type Tool struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	InputSchema map[string]any `json:"inputSchema"`
}

var tools = []Tool{
	{Name: "echo", Description: "Returns its text.", InputSchema: map[string]any{
		"type": "object", "properties": map[string]any{"text": map[string]any{"type": "string"}}, "required": []string{"text"},
	}},
	{Name: "whoami", Description: "Says who the token belongs to.", InputSchema: map[string]any{"type": "object"}},
}

func (s *rpcServer) rpc(w http.ResponseWriter, r *http.Request) {
	var req request
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || json.Unmarshal(body, &req) != nil || req.JSONRPC != "2.0" || req.Method == "" {
		writeRPC(w, response{Error: &rpcError{Code: -32700, Message: "not a JSON-RPC 2.0 request"}})
		return
	}
	p, _ := rs.PrincipalFrom(r.Context())
	resp := response{ID: req.ID}
	switch req.Method {
	case "tools/list":
		resp.Result = map[string]any{"tools": tools}
	case "tools/call":
		if !p.HasScope(ScopeCall) {
			// MCP: a token without the scope a call needs is a 403 naming it.
			w.Header().Set("WWW-Authenticate", s.challenge+`, error="insufficient_scope", scope="`+ScopeCall+`"`)
			writeJSON(w, http.StatusForbidden, map[string]string{"detail": "You do not have permission to perform this action."})
			return
		}
		resp.Result, resp.Error = call(p, req.Params)
	default:
		resp.Error = &rpcError{Code: -32601, Message: "method not found"}
	}
	writeRPC(w, resp)
}

// call runs a tool (MCP tools/call: {"name", "arguments"} → {"content"}).
func call(p *rs.Principal, raw json.RawMessage) (any, *rpcError) {
	var params struct {
		Name      string `json:"name"`
		Arguments struct {
			Text string `json:"text"`
		} `json:"arguments"`
	}
	if json.Unmarshal(raw, &params) != nil {
		return nil, &rpcError{Code: -32602, Message: "invalid params"}
	}
	var text string
	switch params.Name {
	case "echo":
		text = params.Arguments.Text
	case "whoami":
		text = fmt.Sprintf("subject %s (%s) through client %s, scopes %s",
			p.Subject, p.Username, p.ClientID, strings.Join(p.Scopes, " "))
	default:
		return nil, &rpcError{Code: -32602, Message: "unknown tool"}
	}
	return map[string]any{"content": []map[string]string{{"type": "text", "text": text}}}, nil
}

func writeRPC(w http.ResponseWriter, resp response) {
	resp.JSONRPC = "2.0"
	if resp.ID == nil {
		resp.ID = json.RawMessage("null")
	}
	writeJSON(w, http.StatusOK, resp)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
