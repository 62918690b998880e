package provider

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-auth/latchkey/storage"
)

// codeFlow is a provider on SQLite serving the authorization code grant,
// with a user, a confidential web client "web" and a public native client
// "cli", on a clock the test moves.
type codeFlow struct {
	p    *Provider
	mu   sync.Mutex
	now  time.Time
	user string // the user's sub
}

func (f *codeFlow) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *codeFlow) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func newCodeFlow(t *testing.T) *codeFlow {
	t.Helper()
	f := &codeFlow{now: time.Now().Truncate(time.Second)}
	f.p = newTestProvider(t, f.clock, []string{GrantClientCredentials}, nil)
	store := f.p.store.(interface {
		CreateClient(context.Context, storage.Client) error
		CreateUser(context.Context, *storage.User) error
	})
	now := f.clock()
	u := &storage.User{Username: "carol", Email: "carol@example.com", EmailVerified: true, IsActive: true, DateJoined: now}
	if err := store.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	f.user = strconv.FormatInt(u.ID, 10)
	for _, c := range []storage.Client{
		{
			ID: "web", SecretHash: f.p.secrets.Hash("web-secret"), TokenEndpointAuthMethod: AuthSecretBasic,
			GrantTypes: []string{GrantAuthorizationCode, GrantRefreshToken}, ResponseTypes: []string{"code"},
			RedirectURIs: []string{"https://app.example/cb", "https://app.example/cb2?tenant=1"},
			Scope:        "openid profile email offline_access", AccessTokenFormat: "jwt", CreatedAt: now, UpdatedAt: now,
		},
		{
			ID: "cli", TokenEndpointAuthMethod: AuthNone,
			GrantTypes: []string{GrantAuthorizationCode}, ResponseTypes: []string{"code"},
			RedirectURIs: []string{"http://127.0.0.1/callback"},
			Scope:        "openid", AccessTokenFormat: "jwt", CreatedAt: now, UpdatedAt: now,
		},
	} {
		if err := store.CreateClient(t.Context(), c); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// pkcePair is an RFC 7636 verifier and its S256 challenge.
func pkcePair(seed string) (verifier, challenge string) {
	verifier = strings.Repeat(seed, 43)[:43]
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func authorizeGET(q url.Values) *http.Request {
	return httptest.NewRequest(http.MethodGet, "/oauth2/authorize?"+q.Encode(), nil)
}

func TestParseAuthorize(t *testing.T) {
	f := newCodeFlow(t)
	_, challenge := pkcePair("a")
	base := func(client, redirect string) url.Values {
		return url.Values{
			"client_id": {client}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid"},
			"state": {"st"}, "nonce": {"n1"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
		}
	}
	with := func(q url.Values, k, v string) url.Values {
		out := url.Values{}
		for key, vs := range q {
			out[key] = vs
		}
		if v == "" {
			out.Del(k)
		} else {
			out.Set(k, v)
		}
		return out
	}
	web := base("web", "https://app.example/cb")
	cli := base("cli", "http://127.0.0.1:53781/callback")

	t.Run("requests the user must see and the client must not", func(t *testing.T) {
		for name, q := range map[string]url.Values{
			"an unknown client":                       with(web, "client_id", "nobody"),
			"no client_id":                            with(web, "client_id", ""),
			"an unregistered redirect URI":            with(web, "redirect_uri", "https://evil.example/cb"),
			"a redirect URI with a trailing slash":    with(web, "redirect_uri", "https://app.example/cb/"),
			"a redirect URI in another case":          with(web, "redirect_uri", "https://APP.example/cb"),
			"a redirect URI with an extra query":      with(web, "redirect_uri", "https://app.example/cb?x=1"),
			"a redirect URI with userinfo":            with(web, "redirect_uri", "https://app.example@evil.example/cb"),
			"a redirect URI with a fragment":          with(web, "redirect_uri", "https://app.example/cb#x"),
			"no redirect URI when two are registered": with(web, "redirect_uri", ""),
			"a loopback redirect on another path":     with(cli, "redirect_uri", "http://127.0.0.1:5000/other"),
			"a loopback redirect on another host":     with(cli, "redirect_uri", "http://127.0.0.2:5000/callback"),
			"localhost for a registered IP literal":   with(cli, "redirect_uri", "http://localhost:5000/callback"),
			"https for a registered http loopback":    with(cli, "redirect_uri", "https://127.0.0.1:5000/callback"),
			"a loopback redirect with userinfo":       with(cli, "redirect_uri", "http://u@127.0.0.1:5000/callback"),
			"a parameter given twice":                 {"client_id": {"web", "web"}},
			"a NUL byte in a parameter":               with(web, "state", "a\x00b"),
		} {
			t.Run(name, func(t *testing.T) {
				req, err := f.p.ParseAuthorize(t.Context(), authorizeGET(q))
				if req != nil || err == nil {
					t.Fatalf("got a request for the client (%v, %v); want an error for the user only", req, err)
				}
			})
		}
	})
	t.Run("errors for the client", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			q    url.Values
			want *Error
		}{
			{"a public client without PKCE", with(with(cli, "code_challenge", ""), "code_challenge_method", ""), ErrInvalidRequest},
			{"the plain PKCE method", with(web, "code_challenge_method", "plain"), ErrInvalidRequest},
			{"a challenge without a method (plain)", with(web, "code_challenge_method", ""), ErrInvalidRequest},
			{"response_type token", with(web, "response_type", "token"), ErrUnsupportedResponseType},
			{"only scopes the client does not have", with(web, "scope", "admin write"), ErrInvalidScope},
			{"an unknown prompt", with(web, "prompt", "select_account"), ErrInvalidRequest},
			{"prompt none with login", with(web, "prompt", "none login"), ErrInvalidRequest},
			{"a negative max_age", with(web, "max_age", "-1"), ErrInvalidRequest},
			{"a state over 512 characters", with(web, "state", strings.Repeat("s", 513)), ErrInvalidRequest},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, err := f.p.ParseAuthorize(t.Context(), authorizeGET(tc.q))
				if req == nil || !errors.Is(err, tc.want) {
					t.Fatalf("got (%v, %v), want a request and %s", req, err, tc.want.Code)
				}
				back, perr := url.Parse(f.p.AuthorizeErrorURL(req, err))
				if perr != nil || back.Query().Get("error") != tc.want.Code || back.Query().Get("iss") != f.p.Issuer() {
					t.Fatalf("error redirect %v", back)
				}
				if st := tc.q.Get("state"); len(st) <= 512 && back.Query().Get("state") != st {
					t.Fatalf("state not returned unchanged: %v", back)
				}
			})
		}
	})
	t.Run("valid requests", func(t *testing.T) {
		for name, q := range map[string]url.Values{
			"a confidential client with PKCE":                        web,
			"a confidential client without PKCE":                     with(with(web, "code_challenge", ""), "code_challenge_method", ""),
			"a public client on a loopback port it did not register": cli,
			"the registered redirect URI with its query":             with(web, "redirect_uri", "https://app.example/cb2?tenant=1"),
			"a public client with its only redirect URI left out":    with(cli, "redirect_uri", ""),
			"prompt login and consent, max_age 0":                    with(with(web, "prompt", "login consent"), "max_age", "0"),
		} {
			t.Run(name, func(t *testing.T) {
				req, err := f.p.ParseAuthorize(t.Context(), authorizeGET(q))
				if err != nil {
					t.Fatal(err)
				}
				if req.State != "st" || req.Nonce != "n1" || req.Scope != "openid" || req.RedirectURI == "" {
					t.Fatalf("request %+v", req)
				}
			})
		}
	})
	t.Run("max_age and prompt=login decide whether a login is needed", func(t *testing.T) {
		req, err := f.p.ParseAuthorize(t.Context(), authorizeGET(with(web, "max_age", "60")))
		if err != nil {
			t.Fatal(err)
		}
		now := f.clock()
		if req.NeedsLogin(now.Add(-30*time.Second), now) || !req.NeedsLogin(now.Add(-61*time.Second), now) || !req.NeedsLogin(time.Time{}, now) {
			t.Fatal("max_age=60 misjudged")
		}
		forced, _ := f.p.ParseAuthorize(t.Context(), authorizeGET(with(web, "prompt", "login")))
		if !forced.NeedsLogin(now, now) {
			t.Fatal("prompt=login must always ask for a login")
		}
	})
}

// codeResult is what the browser brings back from the authorization.
type codeResult struct {
	code, state, iss string
}

func (f *codeFlow) authorize(t *testing.T, q url.Values, login Login) codeResult {
	t.Helper()
	req, err := f.p.ParseAuthorize(t.Context(), authorizeGET(q))
	if err != nil {
		t.Fatal(err)
	}
	loc, err := f.p.IssueCode(t.Context(), req, login)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; !strings.HasPrefix(req.RedirectURI, got) {
		t.Fatalf("redirected to %s, want %s", loc, req.RedirectURI)
	}
	return codeResult{code: u.Query().Get("code"), state: u.Query().Get("state"), iss: u.Query().Get("iss")}
}

func (f *codeFlow) redeem(t *testing.T, client, secret string, form url.Values) (*TokenResponse, error) {
	t.Helper()
	form.Set("grant_type", GrantAuthorizationCode)
	if secret == "" {
		form.Set("client_id", client) // a public client names itself
	}
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		r.SetBasicAuth(client, secret)
	}
	return f.p.Token(t.Context(), r)
}

// verifier checks ID tokens with go-oidc against the provider's JWKS.
func (f *codeFlow) verifier(t *testing.T, clientID string) *oidc.IDTokenVerifier {
	t.Helper()
	raw, err := f.p.Keys().JWKS(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	var keys []crypto.PublicKey
	for _, k := range set.Keys {
		keys = append(keys, k.Key)
	}
	return oidc.NewVerifier(f.p.Issuer(), &oidc.StaticKeySet{PublicKeys: keys}, &oidc.Config{
		ClientID: clientID, Now: f.clock, SupportedSigningAlgs: []string{"ES256", "RS256", "EdDSA"},
	})
}

func TestAuthorizationCodeFlow(t *testing.T) {
	f := newCodeFlow(t)
	verifier, challenge := pkcePair("v")
	login := Login{Subject: f.user, AuthTime: f.clock().Add(-time.Minute), SessionID: "ls1", AMR: []string{"pwd"}}
	webAuthorize := url.Values{
		"client_id": {"web"}, "redirect_uri": {"https://app.example/cb"}, "response_type": {"code"},
		"scope": {"openid email offline_access"}, "state": {"xyz"}, "nonce": {"n-0S6"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	redeemForm := func(code string) url.Values {
		return url.Values{"code": {code}, "redirect_uri": {"https://app.example/cb"}, "code_verifier": {verifier}}
	}

	t.Run("a code becomes tokens an OIDC relying party accepts", func(t *testing.T) {
		res := f.authorize(t, webAuthorize, login)
		if res.state != "xyz" || res.iss != f.p.Issuer() || !strings.HasPrefix(res.code, PrefixAuthorizationCode) {
			t.Fatalf("redirect carries %+v", res)
		}
		tok, err := f.redeem(t, "web", "web-secret", redeemForm(res.code))
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken == "" || tok.IDToken == "" || tok.Scope != "openid email offline_access" {
			t.Fatalf("response %+v", tok)
		}
		idt, err := f.verifier(t, "web").Verify(t.Context(), tok.IDToken)
		if err != nil {
			t.Fatal(err)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
		var claims struct {
			AuthTime int64    `json:"auth_time"`
			AMR      []string `json:"amr"`
			SID      string   `json:"sid"`
			Email    string   `json:"email"`
		}
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if idt.Nonce != "n-0S6" || idt.Subject != f.user || claims.AuthTime != login.AuthTime.Unix() ||
			len(claims.AMR) != 1 || claims.AMR[0] != "pwd" || claims.SID != login.SessionID || claims.Email != "carol@example.com" {
			t.Fatalf("id token: nonce %q sub %q claims %+v", idt.Nonce, idt.Subject, claims)
		}
		info, err := f.p.VerifyAccessToken(t.Context(), tok.AccessToken)
		// The ID token's sid is the browser's login session; the access
		// token's is the refresh family the code started (revocation).
		if err != nil || info.SessionID == "" || info.SessionID == claims.SID || info.ClientID != "web" {
			t.Fatalf("access token %+v, %v", info, err)
		}
	})

	t.Run("a replayed code fails and revokes what the first redemption gave", func(t *testing.T) {
		res := f.authorize(t, webAuthorize, login)
		first, err := f.redeem(t, "web", "web-secret", redeemForm(res.code))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.redeem(t, "web", "web-secret", redeemForm(res.code)); !errors.Is(err, ErrInvalidGrant) {
			t.Fatalf("replay: %v", err)
		}
		if _, err := f.p.VerifyAccessToken(t.Context(), first.AccessToken); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("the first access token still works after the replay: %v", err)
		}
		if err := f.p.VerifyUserToken(t.Context(), "web", first.RefreshToken); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("the first refresh token still works after the replay: %v", err)
		}
	})

	t.Run("without offline_access there is no refresh token, and a replay still revokes", func(t *testing.T) {
		q := url.Values{}
		for k, v := range webAuthorize {
			q[k] = v
		}
		q.Set("scope", "openid")
		res := f.authorize(t, q, login)
		first, err := f.redeem(t, "web", "web-secret", redeemForm(res.code))
		if err != nil || first.RefreshToken != "" {
			t.Fatalf("got %+v, %v; want no refresh token", first, err)
		}
		_, _ = f.redeem(t, "web", "web-secret", redeemForm(res.code))
		if _, err := f.p.VerifyAccessToken(t.Context(), first.AccessToken); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("the access token survives the replay: %v", err)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			client string
			secret string
			form   func(code string) url.Values
			before func()
			want   *Error
		}{
			{"a wrong verifier", "web", "web-secret", func(c string) url.Values {
				v := redeemForm(c)
				v.Set("code_verifier", strings.Repeat("w", 43))
				return v
			}, nil, ErrInvalidGrant},
			{"a missing verifier", "web", "web-secret", func(c string) url.Values {
				v := redeemForm(c)
				v.Del("code_verifier")
				return v
			}, nil, ErrInvalidGrant},
			{"another redirect URI", "web", "web-secret", func(c string) url.Values {
				v := redeemForm(c)
				v.Set("redirect_uri", "https://app.example/cb2?tenant=1")
				return v
			}, nil, ErrInvalidGrant},
			{"a code of client web redeemed by client cli", "cli", "", redeemForm, nil, ErrInvalidGrant},
			{"an expired code", "web", "web-secret", redeemForm, func() { f.advance(codeTTL + time.Second) }, ErrInvalidGrant},
			{"a code that was never issued", "web", "web-secret", func(string) url.Values {
				return redeemForm(NewSecret(PrefixAuthorizationCode))
			}, nil, ErrInvalidGrant},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := f.authorize(t, webAuthorize, login)
				if tc.before != nil {
					tc.before()
				}
				tok, err := f.redeem(t, tc.client, tc.secret, tc.form(res.code))
				if !errors.Is(err, tc.want) || tok != nil {
					t.Fatalf("got %+v, %v; want %s", tok, err, tc.want.Code)
				}
			})
		}
	})

	t.Run("a verifier for a code issued without a challenge is refused", func(t *testing.T) {
		q := url.Values{}
		for k, v := range webAuthorize {
			q[k] = v
		}
		q.Del("code_challenge")
		q.Del("code_challenge_method")
		res := f.authorize(t, q, login)
		if _, err := f.redeem(t, "web", "web-secret", redeemForm(res.code)); !errors.Is(err, ErrInvalidGrant) {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("a public client redeems with its verifier and no secret", func(t *testing.T) {
		cv, cc := pkcePair("p")
		res := f.authorize(t, url.Values{
			"client_id": {"cli"}, "redirect_uri": {"http://127.0.0.1:61000/callback"}, "response_type": {"code"},
			"code_challenge": {cc}, "code_challenge_method": {"S256"},
		}, login)
		tok, err := f.redeem(t, "cli", "", url.Values{"code": {res.code}, "redirect_uri": {"http://127.0.0.1:61000/callback"}, "code_verifier": {cv}})
		if err != nil || tok.AccessToken == "" || tok.RefreshToken != "" {
			t.Fatalf("got %+v, %v", tok, err)
		}
	})

	t.Run("a code needs a signed-in user", func(t *testing.T) {
		req, err := f.p.ParseAuthorize(t.Context(), authorizeGET(webAuthorize))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.p.IssueCode(t.Context(), req, Login{}); !errors.Is(err, ErrLoginRequired) {
			t.Fatalf("got %v", err)
		}
	})
}
