package resourceserver

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// introspect asks the issuer about token (RFC 7662), through the cache and
// singleflight. jwt is the principal of a JWT whose signature checked out,
// nil for an opaque token.
func (v *Verifier) introspect(ctx context.Context, token string, jwt *Principal) (*Principal, error) {
	in := v.cfg.Introspection
	now := v.now()
	if in.CacheTTL > 0 {
		v.cacheMu.RLock()
		e, ok := v.cache[token]
		v.cacheMu.RUnlock()
		if ok && now.Before(e.expires) {
			return activeOrNot(e.p)
		}
	}
	if v.beforeFlight != nil {
		v.beforeFlight()
	}
	res, err, _ := v.flight.Do(token, func() (any, error) {
		// A flight that ended between the look-up above and here has
		// filled the cache: do not ask twice.
		if in.CacheTTL > 0 {
			v.cacheMu.RLock()
			e, ok := v.cache[token]
			v.cacheMu.RUnlock()
			if ok && now.Before(e.expires) {
				return e.p, nil
			}
		}
		// The flight answers every waiting request: one request going away
		// must not fail the others (the HTTP client's timeout still holds).
		p, err := v.ask(context.WithoutCancel(ctx), token, jwt)
		if err != nil {
			return nil, err
		}
		v.remember(token, p, now)
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	p, _ := res.(*Principal)
	return activeOrNot(p)
}

func activeOrNot(p *Principal) (*Principal, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: inactive (unknown, expired or revoked)", ErrInvalidToken)
	}
	return p, nil
}

// remember caches an answer until the TTL or the token's exp, whichever
// comes first. A full cache first drops what has expired, then everything.
func (v *Verifier) remember(token string, p *Principal, now time.Time) {
	in := v.cfg.Introspection
	if in.CacheTTL <= 0 {
		return
	}
	expires := now.Add(in.CacheTTL)
	if p != nil && !p.Expiry.IsZero() && p.Expiry.Before(expires) {
		expires = p.Expiry
	}
	v.cacheMu.Lock()
	defer v.cacheMu.Unlock()
	if len(v.cache) >= in.MaxEntries {
		for k, e := range v.cache {
			if !now.Before(e.expires) {
				delete(v.cache, k)
			}
		}
		if len(v.cache) >= in.MaxEntries {
			clear(v.cache)
		}
	}
	v.cache[token] = cached{p: p, expires: expires}
}

// ask POSTs the token to the introspection endpoint; an inactive token is
// (nil, nil).
func (v *Verifier) ask(ctx context.Context, token string, jwt *Principal) (*Principal, error) {
	in := v.cfg.Introspection
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.introspectURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("introspect: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the credentials are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(in.ClientID), url.QueryEscape(in.ClientSecret))
	var claims map[string]any
	if err := v.do(req, &claims); err != nil {
		return nil, fmt.Errorf("introspect: %w", err)
	}
	if active, _ := claims["active"].(bool); !active {
		return nil, nil
	}
	if tt, _ := claims["token_type"].(string); strings.EqualFold(tt, "refresh_token") {
		return nil, nil
	}
	p, err := v.checkClaims(claims, false)
	if err != nil {
		return nil, nil
	}
	if jwt != nil {
		// The signed claims are the token's; introspection only said it is
		// still active.
		return jwt, nil
	}
	return p, nil
}
