package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/handlers/pages/pagestest"
)

// metadataHost serves Client ID Metadata Documents on its own port and
// counts the requests for each path.
type metadataHost struct {
	*httptest.Server
	mu       sync.Mutex
	docs     map[string]http.HandlerFunc
	requests map[string]int
}

func newMetadataHost(t *testing.T) *metadataHost {
	t.Helper()
	h := &metadataHost{docs: map[string]http.HandlerFunc{}, requests: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.requests[r.URL.Path]++
		doc := h.docs[r.URL.Path]
		h.mu.Unlock()
		if doc == nil {
			http.NotFound(w, r)
			return
		}
		doc(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *metadataHost) serve(path string, doc map[string]any) string {
	body, _ := json.Marshal(doc)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.docs[path] = func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=300")
		_, _ = w.Write(body)
	}
	return h.URL + path
}

func (h *metadataHost) count(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests[path]
}

func (h *metadataHost) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.requests {
		n += c
	}
	return n
}

// An application nobody registered signs a user in with its client_id the
// URL of its metadata document, served on another port: the code flow
// completes in a real browser, the consent page names the application and
// the host its document came from, the tokens are the document client's
// and never act on latchkey's own API; invalid documents are an error
// page, never a redirect, after at most one request.
func TestClientIDMetadataDocumentSignIn(t *testing.T) {
	ts := startServerAt(t, "127.0.0.1:0", t.TempDir(), newLiveClock(), func(c *config.Config) {
		c.OAuth2.ClientIDMetadataDocuments.Enabled = true
		// The document host is on loopback in this test.
		c.OAuth2.ClientIDMetadataDocuments.AllowPrivateAddresses = true
		c.Resources = []config.Resource{{URI: "https://mcp.example.com/mcp"}}
	})
	b := pagestest.NewBrowser(t)
	const pw = "correct-horse-42"
	ts.createUser("alice", pw, false)
	docs := newMetadataHost(t)
	docHost := strings.TrimPrefix(docs.URL, "http://")

	rp := newOIDCApp(t, ts.URL)
	clientID := docs.URL + "/oauth/agent.json"
	docs.serve("/oauth/agent.json", map[string]any{
		"client_id": clientID, "client_name": "Example Agent",
		"redirect_uris":              []string{rp.URL + "/callback"},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"token_endpoint_auth_method": "none",
	})
	prov, err := oidc.NewProvider(t.Context(), ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp.conf.ClientID = clientID
	rp.verifier = prov.Verifier(&oidc.Config{ClientID: clientID})

	t.Run("discovery says so", func(t *testing.T) {
		d := ts.get("/.well-known/oauth-authorization-server", "").json(t)
		if d["client_id_metadata_document_supported"] != true {
			t.Fatalf("client_id_metadata_document_supported = %v", d["client_id_metadata_document_supported"])
		}
	})

	t.Run("sign in; the consent page shows the name and the host", func(t *testing.T) {
		b := b.With(t)
		res := b.Response(chromedp.Navigate(rp.URL + "/start"))
		if !strings.HasPrefix(res.URL, ts.URL+"/login?request=") {
			t.Fatalf("the browser is at %s (%d), want the login page", res.URL, res.Status)
		}
		if got := b.Text("main p"); !strings.Contains(got, "Example Agent") || !strings.Contains(got, docHost) {
			t.Errorf("the login page names %q, want the application and its host", got)
		}
		b.Fill(`input[name=username]`, "alice")
		b.Fill(`input[name=password]`, pw)
		res = b.Submit(`button[type=submit]`)
		if !strings.HasPrefix(res.URL, ts.URL+"/consent?request=") {
			t.Fatalf("after login the browser is at %s, want the consent page", res.URL)
		}
		if got := b.Text("h1"); !strings.Contains(got, "Example Agent") {
			t.Errorf("consent h1 %q", got)
		}
		if got := b.Text("[data-client-host]"); got != docHost {
			t.Errorf("the consent page names the host %q, want %q", got, docHost)
		}
		b.Screenshots("cimd-consent")
		res = b.Submit(`button[name=decision][value=allow]`)
		if !strings.HasPrefix(res.URL, rp.URL+"/callback?") || b.Text("#hello") != "Hello alice" {
			t.Fatalf("after consent the browser is at %s: %q", res.URL, b.Text("body"))
		}
		r := rp.last(t)
		if r.err != "" || r.iss != ts.URL {
			t.Fatalf("callback: err %q iss %q", r.err, r.iss)
		}
		_, claims := mustVerifyJWT(t, r.token.AccessToken, ts.jwks())
		if claims["client_id"] != clientID {
			t.Errorf("access token client_id %v, want %s", claims["client_id"], clientID)
		}
		if strings.Contains(" "+claims["scope"].(string)+" ", " latchkey ") {
			t.Errorf("a metadata-document client got the latchkey scope: %v", claims["scope"])
		}
		if r.token.RefreshToken == "" {
			t.Fatal("offline_access and refresh_token were asked for but no refresh token came")
		}
		// The token does not act on latchkey's own API.
		if got := ts.get("/auth/users/me/", r.token.AccessToken); got.Status == http.StatusOK {
			t.Errorf("/auth/users/me/ with a metadata-document client's token: %d", got.Status)
		}
		// The refresh grant works for the public client (no secret).
		tok, err := rp.conf.TokenSource(t.Context(), &oauth2.Token{RefreshToken: r.token.RefreshToken}).Token()
		if err != nil || tok.AccessToken == "" {
			t.Fatalf("refresh: %v", err)
		}
		// One fetch served the authorize request, the consent, the code
		// and the refresh: the document is cached.
		if n := docs.count("/oauth/agent.json"); n != 1 {
			t.Errorf("the document was fetched %d times, want 1", n)
		}
	})

	t.Run("with a resource, the token's aud is that resource (RFC 8707)", func(t *testing.T) {
		b := b.With(t)
		res := b.Response(chromedp.Navigate(rp.URL + "/start?resource=" + url.QueryEscape("https://mcp.example.com/mcp")))
		if !strings.HasPrefix(res.URL, ts.URL+"/consent?request=") {
			t.Fatalf("the browser is at %s, want the consent page (asked every time)", res.URL)
		}
		res = b.Submit(`button[name=decision][value=allow]`)
		if !strings.HasPrefix(res.URL, rp.URL+"/callback?") {
			t.Fatalf("after consent the browser is at %s", res.URL)
		}
		r := rp.last(t)
		if r.err != "" {
			t.Fatalf("callback: %s", r.err)
		}
		if _, claims := mustVerifyJWT(t, r.token.AccessToken, ts.jwks()); claims["aud"] != "https://mcp.example.com/mcp" {
			t.Fatalf("access token aud %v, want the resource", claims["aud"])
		}
	})

	t.Run("the client has no secret to present", func(t *testing.T) {
		got := ts.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"lk_rt_x"}}, clientID, "guessed")
		if got.Status != http.StatusUnauthorized || got.json(t)["error"] != "invalid_client" {
			t.Fatalf("a secret for a metadata-document client: %s", got)
		}
	})

	t.Run("consent is asked again: it is not stored for such clients", func(t *testing.T) {
		b := b.With(t)
		res := b.Response(chromedp.Navigate(rp.URL + "/start"))
		if !strings.HasPrefix(res.URL, ts.URL+"/consent?request=") {
			t.Fatalf("the browser is at %s, want the consent page", res.URL)
		}
		res = b.Submit(`button[name=decision][value=deny]`)
		if !strings.HasPrefix(res.URL, rp.URL+"/callback?") || rp.last(t).err != "access_denied" {
			t.Fatalf("deny: at %s, %+v", res.URL, rp.last(t))
		}
	})

	invalid := []struct {
		name, path, reason string
		doc                func(id string) map[string]any
		redirect           bool
	}{
		{name: "a mismatched client_id", path: "/bad/mismatch.json", reason: "client_id is not the URL",
			doc: func(id string) map[string]any {
				return map[string]any{"client_id": id + "?x", "redirect_uris": []string{rp.URL + "/callback"}}
			}},
		{name: "a secret", path: "/bad/secret.json", reason: "must not hold a secret",
			doc: func(id string) map[string]any {
				return map[string]any{"client_id": id, "client_secret": "s3cret", "redirect_uris": []string{rp.URL + "/callback"}}
			}},
		{name: "a redirect", path: "/bad/moved.json", reason: "redirects are not followed", redirect: true},
	}
	for _, tc := range invalid {
		t.Run("an invalid document: "+tc.name, func(t *testing.T) {
			b := b.With(t)
			id := docs.URL + tc.path
			if tc.redirect {
				docs.mu.Lock()
				docs.docs[tc.path] = func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "/oauth/agent.json", http.StatusFound)
				}
				docs.mu.Unlock()
			} else {
				docs.serve(tc.path, tc.doc(id))
			}
			before, callbacks, target := docs.total(), rp.count(), docs.count("/oauth/agent.json")
			res := b.Response(chromedp.Navigate(ts.URL + "/oauth2/authorize?" + authorizeQuery(id, rp.URL+"/callback").Encode()))
			if res.Status != http.StatusBadRequest || !strings.HasPrefix(res.URL, ts.URL+"/oauth2/authorize") {
				t.Fatalf("status %d at %s, want the 400 error page", res.Status, res.URL)
			}
			if got := b.Text("h1"); got != "This sign-in link does not work" {
				t.Errorf("h1 %q", got)
			}
			if got := b.Text("[role=alert]"); !strings.Contains(got, tc.reason) || !strings.Contains(got, docHost) {
				t.Errorf("the error page says %q, want the host and %q", got, tc.reason)
			}
			if docs.count(tc.path) != 1 || docs.total() != before+1 || docs.count("/oauth/agent.json") != target {
				t.Errorf("requests: %d to the document, %d in all (want 1 and %d)", docs.count(tc.path), docs.total(), before+1)
			}
			if rp.count() != callbacks {
				t.Error("the application was called back")
			}
		})
	}

	t.Run("a non-https document URL is refused without a request", func(t *testing.T) {
		b := b.With(t)
		before := docs.total()
		res := b.Response(chromedp.Navigate(ts.URL + "/oauth2/authorize?" + authorizeQuery("http://app.example/client.json", rp.URL+"/callback").Encode()))
		if res.Status != http.StatusBadRequest || !strings.Contains(b.Text("[role=alert]"), "must use https") {
			t.Fatalf("status %d: %q", res.Status, b.Text("[role=alert]"))
		}
		if docs.total() != before {
			t.Error("a request was made")
		}
	})

	t.Run("metrics count resolutions by outcome", func(t *testing.T) {
		body := string(ts.get("/metrics", "").Body)
		for _, want := range []string{
			`latchkey_client_metadata_documents_total{outcome="fetched"}`,
			`latchkey_client_metadata_documents_total{outcome="cached"}`,
			`latchkey_client_metadata_documents_total{outcome="refused"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// Off (the default), a URL client_id is an unknown client: nothing is
// fetched and discovery does not offer it.
func TestClientIDMetadataDocumentsOff(t *testing.T) {
	ts := startServer(t, nil)
	docs := newMetadataHost(t)
	id := docs.serve("/client.json", map[string]any{"redirect_uris": []string{"http://127.0.0.1/cb"}})
	d := ts.get("/.well-known/openid-configuration", "").json(t)
	if _, ok := d["client_id_metadata_document_supported"]; ok {
		t.Fatal("discovery offers metadata documents while they are off")
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Get(ts.URL + "/oauth2/authorize?" + authorizeQuery(id, "http://127.0.0.1/cb").Encode())
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want the 400 error page", resp.StatusCode)
	}
	if docs.total() != 0 {
		t.Fatal("a document was fetched while the feature is off")
	}
}

func authorizeQuery(clientID, redirect string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect}, "scope": {"openid"},
		"state": {"st"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"},
	}
}
