package resourceserver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestMetadataURL(t *testing.T) {
	for _, c := range []struct{ resource, want string }{
		{"https://api.example.com", "https://api.example.com/.well-known/oauth-protected-resource"},
		{"https://api.example.com/", "https://api.example.com/.well-known/oauth-protected-resource"},
		{"https://api.example.com/mcp", "https://api.example.com/.well-known/oauth-protected-resource/mcp"},
		{"http://127.0.0.1:8000/a/b/", "http://127.0.0.1:8000/.well-known/oauth-protected-resource/a/b"},
	} {
		got, err := MetadataURL(c.resource)
		if err != nil || got != c.want {
			t.Errorf("MetadataURL(%q) = %q, %v; want %q", c.resource, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "/mcp", "urn:example:api", "https://api.example.com/#f", "https://api.example.com/?q=1", "ftp://x.example/"} {
		if got, err := MetadataURL(bad); err == nil {
			t.Errorf("MetadataURL(%q) = %q, want an error", bad, got)
		}
	}
	if p, err := MetadataPath("https://api.example.com/mcp"); err != nil || p != "/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("MetadataPath = %q, %v", p, err)
	}
}

func TestMetadataHandler(t *testing.T) {
	h := MetadataHandler(Metadata{
		Resource: "https://api.example.com/mcp", AuthorizationServers: []string{"https://auth.example.com"},
		ScopesSupported: []string{"tools:read"},
	})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, WellKnownMetadata+"/mcp", nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("GET: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource": "https://api.example.com/mcp", "authorization_servers": []any{"https://auth.example.com"},
		"scopes_supported": []any{"tools:read"}, "bearer_methods_supported": []any{"header"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metadata = %v, want %v", got, want)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, WellKnownMetadata, nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", w.Code)
	}
}

// With ResourceMetadata set, every 401 points to the metadata (RFC 9728
// §5.1); a 403 does not need it; a token for another audience is a 401.
func TestChallengeCarriesResourceMetadata(t *testing.T) {
	is := newTestIssuer(t)
	const md = "https://api.example.com/.well-known/oauth-protected-resource"
	v := is.verifier(func(c *Config) { c.ResourceMetadata = md })
	other := is.claims()
	other["aud"] = "https://other.example.com/mcp"
	for _, c := range []struct {
		name, auth string
		status     int
		challenge  string
	}{
		{"no token", "", 401, `Bearer realm="api", resource_metadata="` + md + `"`},
		{"a token for another resource", "Bearer " + is.sign(other, "at+jwt"), 401,
			`Bearer realm="api", resource_metadata="` + md + `", error="invalid_token", error_description="audience [https://other.example.com/mcp] does not include https://api.example.com"`},
		{"missing scope", "Bearer " + is.sign(is.claims(), "at+jwt"), 403,
			`Bearer realm="api", resource_metadata="` + md + `", error="insufficient_scope", scope="tools:call"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := v.Require(HasScope("tools:call"))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
				t.Error("the request went through")
			}))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if c.auth != "" {
				r.Header.Set("Authorization", c.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.status || w.Header().Get("WWW-Authenticate") != c.challenge {
				t.Errorf("%d %q, want %d %q", w.Code, w.Header().Get("WWW-Authenticate"), c.status, c.challenge)
			}
		})
	}
	if _, err := New(t.Context(), Config{Issuer: is.srv.URL, Audience: "x", ResourceMetadata: "/relative"}); err == nil {
		t.Error("a relative ResourceMetadata is accepted")
	}
}
