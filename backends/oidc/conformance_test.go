package oidc

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/backendtest"
)

// The backend conformance suite, for what oidc shares with the other
// backends, against mockoidc: an OpenID provider latchkey did not write.
func TestConformance(t *testing.T) {
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	// mockoidc's session store is not safe for concurrent use: the
	// upstream answers one request at a time (our backend still runs
	// concurrent sign-ins).
	var serial sync.Mutex
	if err := m.AddMiddleware(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			serial.Lock()
			defer serial.Unlock()
			next.ServeHTTP(w, r)
		})
	}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	cfg := m.Config()
	open := func(t *testing.T, issuer string) backendtest.RedirectBackend {
		c := &Config{Issuer: issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Timeout: 5 * time.Second}
		b, err := c.Open("mock", backends.Deps{})
		if err != nil {
			t.Fatal(err)
		}
		return b.(*Backend)
	}
	// mockoidc signs in whoever is first in its queue: one sign-in at a
	// time, so concurrent sign-ins get their own account.
	var queue sync.Mutex
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	backendtest.RunRedirectBackend(t, backendtest.RedirectHarness{
		BackendID: "mock", Secret: cfg.ClientSecret,
		Open: func(t *testing.T) backendtest.RedirectBackend { return open(t, m.Issuer()) },
		SignIn: func(t *testing.T, authURL, subject string) string {
			queue.Lock()
			defer queue.Unlock()
			m.QueueUser(&mockoidc.MockUser{Subject: subject, Email: subject + "@mock.example", EmailVerified: true})
			res, err := client.Get(authURL)
			if err != nil {
				t.Error(err)
				return ""
			}
			res.Body.Close()
			loc, err := url.Parse(res.Header.Get("Location"))
			if err != nil || loc.Query().Get("code") == "" {
				t.Errorf("the upstream answered %d, Location %q", res.StatusCode, res.Header.Get("Location"))
			}
			return loc.Query().Get("code")
		},
		Down: func(t *testing.T) backendtest.RedirectBackend {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			return open(t, "http://"+addr)
		},
		Hang: func(t *testing.T) backendtest.RedirectBackend {
			block := make(chan struct{})
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-block:
				case <-r.Context().Done():
				}
			}))
			t.Cleanup(func() { close(block); s.Close() })
			return open(t, s.URL)
		},
	})
}
