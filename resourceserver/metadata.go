package resourceserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// WellKnownMetadata is the well-known path of Protected Resource Metadata
// (RFC 9728 §3).
const WellKnownMetadata = "/.well-known/oauth-protected-resource"

// Metadata is an OAuth 2.0 Protected Resource Metadata document (RFC 9728
// §2): how a client that knows only the resource's URL finds the
// authorization server to ask for a token, and what to ask for.
type Metadata struct {
	// Resource is the resource identifier: the URI clients send as the
	// resource parameter (RFC 8707), which latchkey puts in the token's aud.
	// Required; an https (or, in development, http) URL without fragment.
	Resource string `json:"resource"`
	// AuthorizationServers are the issuers that give tokens for the
	// resource (latchkey's issuer URL).
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// ScopesSupported are the scopes the resource understands.
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported are the ways a token may be sent (RFC 6750);
	// the kit reads only the Authorization header, so "header" by default.
	BearerMethodsSupported []string `json:"bearer_methods_supported,omitempty"`
	// ResourceName is a human-readable name of the resource.
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is a URL of documentation for developers.
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
}

// MetadataURL is where the metadata of resource is served (RFC 9728 §3.1):
// the well-known path inserted between the host and the resource's path,
// so https://api.example.com/mcp has its metadata at
// https://api.example.com/.well-known/oauth-protected-resource/mcp.
func MetadataURL(resource string) (string, error) {
	u, err := url.Parse(resource)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errors.New("resourceserver: a resource must be an http(s) URL")
	}
	if u.Fragment != "" || u.RawQuery != "" || u.User != nil {
		return "", errors.New("resourceserver: a resource must have no query, fragment or user info")
	}
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return u.Scheme + "://" + u.Host + WellKnownMetadata + path, nil
}

// MetadataPath is the path part of MetadataURL(resource): what to route
// to MetadataHandler on the resource's own mux.
func MetadataPath(resource string) (string, error) {
	s, err := MetadataURL(resource)
	if err != nil {
		return "", err
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	return u.Path, nil
}

// MetadataHandler serves md as RFC 9728 §3.2 says: a GET answers 200 with
// the JSON document; anything else is 405. A missing bearer method list is
// filled with "header".
func MetadataHandler(md Metadata) http.Handler {
	if len(md.BearerMethodsSupported) == 0 {
		md.BearerMethodsSupported = []string{"header"}
	}
	body, err := json.Marshal(md)
	if err != nil {
		panic("resourceserver: metadata does not encode: " + err.Error())
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeDetail(w, http.StatusMethodNotAllowed, `Method "`+quotable(r.Method)+`" not allowed.`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		// Public and the same for everyone: browsers' clients may read it,
		// and caches may keep it a while.
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(body)
	})
}
