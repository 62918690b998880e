package sessions

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/latchkey-auth/latchkey/storage"
)

// UpstreamCookie binds a sign-in at another identity provider to the
// browser that started it: the callback must come back to the same
// browser, so an attacker cannot finish their own upstream sign-in in a
// victim's browser (login CSRF) or link their upstream account to the
// victim's.
const UpstreamCookie = "latchkey_upstream"

// Upstream is a sign-in at another identity provider in progress: what
// was sent there, to check its callback, and what to do after.
type Upstream struct {
	Backend  string
	State    string
	Nonce    string
	Verifier string
	// Request is the kept authorization request to resume, if any; Next a
	// local page to go on to.
	Request, Next string
	// LinkUser, when not zero, links the identity to this user instead of
	// signing in (explicit linking from a signed-in session).
	LinkUser int64
}

// ErrNoUpstream is a callback whose state is unknown, expired, already
// used, or started in another browser.
var ErrNoUpstream = errors.New("sessions: no such upstream sign-in")

const (
	dataRequest  = "request"
	dataNext     = "next"
	dataLinkUser = "link_user"
	dataBinding  = "binding"
)

// StartUpstream keeps an upstream sign-in (RequestTTL) under a new random
// state, bound to this browser by UpstreamCookie (set on w when the
// browser has none), and returns it with its state, nonce and PKCE
// verifier filled in.
func (m *Manager) StartUpstream(ctx context.Context, w http.ResponseWriter, r *http.Request, up Upstream) (*Upstream, error) {
	binding := ""
	if ck, err := r.Cookie(UpstreamCookie); err == nil && len(ck.Value) == 43 {
		binding = ck.Value
	} else {
		binding = randomID(32)
		http.SetCookie(w, &http.Cookie{
			Name: UpstreamCookie, Value: binding, Path: "/", MaxAge: int(RequestTTL.Seconds()),
			HttpOnly: true, Secure: m.opts.Secure, SameSite: http.SameSiteLaxMode,
		})
	}
	up.State, up.Nonce, up.Verifier = randomID(24), randomID(24), randomID(48)
	now := m.opts.Now()
	rec := storage.LoginSession{
		ID: m.upstreamKey(up.State), Backend: up.Backend,
		UpstreamState: up.State, UpstreamNonce: up.Nonce, UpstreamVerifier: up.Verifier,
		Data: map[string]string{
			dataRequest: up.Request, dataNext: up.Next, dataBinding: m.opts.Hasher.Hash("upstream-binding:" + binding),
			dataLinkUser: strconv.FormatInt(up.LinkUser, 10),
		},
		UserAgent: storage.CutText(r.UserAgent(), 256),
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(RequestTTL),
	}
	if err := m.opts.Logins.CreateLogin(ctx, rec); err != nil {
		return nil, fmt.Errorf("start upstream sign-in: %w", err)
	}
	return &up, nil
}

// TakeUpstream returns the upstream sign-in of a callback's state and
// forgets it (a callback works once). The browser must be the one that
// started it, at the backend whose callback this is; otherwise, and for
// an unknown or expired state, ErrNoUpstream (and the sign-in stays for
// the right callback).
func (m *Manager) TakeUpstream(ctx context.Context, r *http.Request, backend, state string) (*Upstream, error) {
	if state == "" || len(state) > 64 {
		return nil, ErrNoUpstream
	}
	key := m.upstreamKey(state)
	rec, err := m.opts.Logins.GetLogin(ctx, key, m.opts.Now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoUpstream
	}
	if err != nil {
		return nil, fmt.Errorf("load upstream sign-in: %w", err)
	}
	if rec.Backend != backend {
		return nil, ErrNoUpstream
	}
	ck, cerr := r.Cookie(UpstreamCookie)
	if cerr != nil || subtle.ConstantTimeCompare([]byte(m.opts.Hasher.Hash("upstream-binding:"+ck.Value)), []byte(rec.Data[dataBinding])) != 1 {
		// Not this browser's: leave the record for the right one.
		return nil, ErrNoUpstream
	}
	if err := m.opts.Logins.DeleteLogin(ctx, key); errors.Is(err, storage.ErrNotFound) {
		return nil, ErrNoUpstream // a concurrent callback took it
	} else if err != nil {
		return nil, fmt.Errorf("take upstream sign-in: %w", err)
	}
	link, _ := strconv.ParseInt(rec.Data[dataLinkUser], 10, 64)
	return &Upstream{
		Backend: rec.Backend, State: rec.UpstreamState, Nonce: rec.UpstreamNonce, Verifier: rec.UpstreamVerifier,
		Request: rec.Data[dataRequest], Next: rec.Data[dataNext], LinkUser: link,
	}, nil
}

func (m *Manager) upstreamKey(state string) string {
	return m.opts.Hasher.Hash("upstream-state:" + state)
}
