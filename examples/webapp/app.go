package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config is what the app needs to know about latchkey and itself.
type Config struct {
	// Issuer is latchkey's issuer URL; its discovery document names every
	// endpoint.
	Issuer string
	// ClientID and ClientSecret are the app's registration in latchkey
	// (no secret: a public client, protected by PKCE alone).
	ClientID, ClientSecret string
	// URL is the app's own address as users open it: URL/callback is the
	// redirect URI and URL/ the post-logout redirect URI to register.
	URL string
}

// The app's cookies. The three flow cookies live for one sign-in only.
const (
	cookieSession  = "webapp_session"
	cookieState    = "webapp_state"
	cookieNonce    = "webapp_nonce"
	cookieVerifier = "webapp_verifier"
	flowTTL        = 10 * time.Minute
)

// App is the web application: a home page, /login, /callback and /logout.
type App struct {
	http.Handler
	oauth      oauth2.Config
	verifier   *oidc.IDTokenVerifier
	issuer     string
	endSession string
	url        string
	secure     bool

	mu    sync.Mutex
	users map[string]user // by session cookie; a real app keeps them in its own store
}

type user struct {
	Name    string
	IDToken string // sent back to latchkey as id_token_hint at sign-out
}

// New reads latchkey's discovery document and returns the app.
func New(ctx context.Context, c Config) (*App, error) {
	provider, err := oidc.NewProvider(ctx, c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", c.Issuer, err)
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := provider.Claims(&meta); err != nil {
		return nil, fmt.Errorf("discover %s: %w", c.Issuer, err)
	}
	base := strings.TrimSuffix(c.URL, "/")
	a := &App{
		oauth: oauth2.Config{
			ClientID: c.ClientID, ClientSecret: c.ClientSecret, Endpoint: provider.Endpoint(),
			RedirectURL: base + "/callback", Scopes: []string{oidc.ScopeOpenID, "profile", "email"},
		},
		verifier:   provider.Verifier(&oidc.Config{ClientID: c.ClientID}),
		issuer:     c.Issuer,
		endSession: meta.EndSession,
		url:        base + "/",
		secure:     strings.HasPrefix(base, "https://"),
		users:      map[string]user{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.home)
	mux.HandleFunc("GET /login", a.login)
	mux.HandleFunc("GET /callback", a.callback)
	mux.HandleFunc("POST /logout", a.logout)
	a.Handler = mux
	return a, nil
}

var homePage = template.Must(template.New("home").Parse(`<!doctype html>
<meta charset="utf-8"><title>webapp</title>
{{if .}}<p>Hello, <strong id="name">{{.Name}}</strong>.</p>
<form method="post" action="/logout"><button>Sign out</button></form>
{{else}}<p>You are not signed in.</p>
<p><a href="/login">Sign in with latchkey</a></p>{{end}}`))

// home greets the signed-in user, or offers to sign in.
func (a *App) home(w http.ResponseWriter, r *http.Request) {
	u, _ := a.current(r)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = homePage.Execute(w, u)
}

// login starts the authorization code flow: a fresh state, nonce and PKCE
// verifier, each kept in a short-lived HttpOnly cookie, and a redirect to
// latchkey's authorization endpoint.
func (a *App) login(w http.ResponseWriter, r *http.Request) {
	state, nonce, verifier := rand.Text(), rand.Text(), oauth2.GenerateVerifier()
	a.setCookie(w, cookieState, state, flowTTL)
	a.setCookie(w, cookieNonce, nonce, flowTTL)
	a.setCookie(w, cookieVerifier, verifier, flowTTL)
	to := a.oauth.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))
	http.Redirect(w, r, to, http.StatusFound)
}

// callback is where latchkey sends the browser back: it checks state and
// iss, exchanges the code with the PKCE verifier, verifies the ID token
// and its nonce, and starts the app's own session.
func (a *App) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	state, nonce, verifier := cookie(r, cookieState), cookie(r, cookieNonce), cookie(r, cookieVerifier)
	for _, name := range []string{cookieState, cookieNonce, cookieVerifier} {
		a.setCookie(w, name, "", -1) // one sign-in, one use
	}
	if state == "" || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(state)) != 1 {
		http.Error(w, "This sign-in was not started here (state mismatch). Start again from the home page.", http.StatusBadRequest)
		return
	}
	// RFC 9207: the answer must name the issuer the flow was started with
	// (latchkey always sends iss; discovery says so).
	if iss := q.Get("iss"); iss != a.issuer {
		http.Error(w, "The sign-in answer came from an unexpected issuer.", http.StatusBadRequest)
		return
	}
	if e := q.Get("error"); e != "" {
		http.Error(w, "Sign-in failed: "+e+" "+q.Get("error_description"), http.StatusForbidden)
		return
	}
	tok, err := a.oauth.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		a.fail(w, r, "exchange the code", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := a.verifier.Verify(r.Context(), raw)
	if err != nil {
		a.fail(w, r, "verify the ID token", err)
		return
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		a.fail(w, r, "verify the ID token", errors.New("nonce mismatch"))
		return
	}
	var claims struct {
		Name              string `json:"name"`
		PreferredUsername string `json:"preferred_username"`
	}
	if err := idt.Claims(&claims); err != nil {
		a.fail(w, r, "read the ID token", err)
		return
	}
	name := claims.Name
	if name == "" {
		name = claims.PreferredUsername
	}
	if name == "" {
		name = idt.Subject
	}
	id := rand.Text()
	a.mu.Lock()
	a.users[id] = user{Name: name, IDToken: raw}
	a.mu.Unlock()
	a.setCookie(w, cookieSession, id, 0)
	http.Redirect(w, r, "/", http.StatusFound)
}

// logout ends the app's session and sends the browser to latchkey's
// end_session_endpoint (OIDC RP-Initiated Logout 1.0), which ends the
// latchkey session and sends the browser back to the app's home page.
// It is a POST: the SameSite=Lax session cookie makes it a same-site form.
// latchkey hands state back on the way home; this app keeps nothing to
// match it with, a real one may.
func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	u, id := a.current(r)
	a.setCookie(w, cookieSession, "", -1)
	if u == nil || a.endSession == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	a.mu.Lock()
	delete(a.users, id)
	a.mu.Unlock()
	q := url.Values{
		"id_token_hint":            {u.IDToken},
		"post_logout_redirect_uri": {a.url},
		"client_id":                {a.oauth.ClientID},
		"state":                    {rand.Text()},
	}
	http.Redirect(w, r, a.endSession+"?"+q.Encode(), http.StatusSeeOther)
}

// current is the signed-in user and the session cookie's value.
func (a *App) current(r *http.Request) (*user, string) {
	id := cookie(r, cookieSession)
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, ok := a.users[id]; ok && id != "" {
		return &u, id
	}
	return nil, ""
}

func (a *App) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	slog.WarnContext(r.Context(), "sign-in failed", "step", what, "err", err)
	http.Error(w, "Sign-in failed: could not "+what+".", http.StatusBadGateway)
}

// setCookie sets an HttpOnly, SameSite=Lax cookie (Secure on https); a
// negative maxAge deletes it, 0 makes it a browser-session cookie.
func (a *App) setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	age := int(maxAge / time.Second)
	if maxAge < 0 {
		age = -1
	}
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: age,
		HttpOnly: true, Secure: a.secure, SameSite: http.SameSiteLaxMode,
	})
}

func cookie(r *http.Request, name string) string {
	if c, err := r.Cookie(name); err == nil {
		return c.Value
	}
	return ""
}
