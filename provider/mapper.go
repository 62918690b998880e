package provider

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/permissions"
	"github.com/latchkey-auth/latchkey/storage"
)

// This file applies the permission mapper (package permissions) to every
// token: mint calls mapGrant, so the password, refresh, authorization code,
// client credentials and token exchange grants and the user API's logins
// all decide scopes and claims in one place. A refresh maps again with the
// user's current groups and flags, so a permission taken away is gone from
// the next token.

// userFacts is what the mapper is told about a stored user.
func userFacts(u storage.User, groups []storage.Group) *permissions.User {
	f := &permissions.User{
		Superuser: u.IsSuperuser, Staff: u.IsStaff, Permissions: u.Permissions,
		Attributes: map[string]any{
			"id": u.ID, "username": u.Username, "email": u.Email, "email_verified": u.EmailVerified,
			"first_name": u.FirstName, "last_name": u.LastName,
			"is_staff": u.IsStaff, "is_superuser": u.IsSuperuser,
		},
	}
	if !u.DateJoined.IsZero() {
		f.Attributes["date_joined"] = u.DateJoined.UTC().Format(time.RFC3339)
	}
	if u.Profile != nil {
		f.Attributes["profile"] = u.Profile
	}
	for _, g := range groups {
		f.Groups = append(f.Groups, permissions.Group{Name: g.Name, Permissions: g.Permissions})
	}
	return f
}

// groupFacts is what the mapper is told about a user a backend vouches for
// without a local account: the groups' names.
func groupFacts(id string, username, email string, groups []string) *permissions.User {
	f := &permissions.User{Attributes: map[string]any{"id": id, "username": username, "email": email}}
	for _, g := range groups {
		f.Groups = append(f.Groups, permissions.Group{Name: g})
	}
	return f
}

// clientScopes are the scopes a client may ask for: its registered ones,
// and for the first-party client of the user API also every scope of
// permissions.scopes ("openid profile email plus every scope the user's
// permissions allow", contract §4).
func (p *Provider) clientScopes(cl *storage.Client) []string {
	scopes := strings.Fields(cl.Scope)
	if p.firstPartyID != "" && cl.ID == p.firstPartyID {
		for _, s := range p.mapper.Scopes() {
			if !slices.Contains(scopes, s) {
				scopes = append(scopes, s)
			}
		}
	}
	return scopes
}

// mapGrant decides the scopes and claims of a token for sub, from the
// scope its grant asked for (already limited to the client's scopes by
// grantScope or the session). invalid_scope when nothing can be granted.
func (p *Provider) mapGrant(ctx context.Context, cl *storage.Client, sub subject, scope string) (permissions.Result, error) {
	return p.mapRequest(ctx, cl, sub, scope, false)
}

// mapRequest is mapGrant, with the mapper's trace when explain is set.
func (p *Provider) mapRequest(ctx context.Context, cl *storage.Client, sub subject, scope string, explain bool) (permissions.Result, error) {
	req := permissions.Request{Client: cl.ID, ClientScopes: p.clientScopes(cl), Requested: splitScope(scope), Explain: explain}
	if sub.facts != nil || sub.ID != cl.ID {
		req.User = sub.facts
		if req.User == nil {
			req.User = &permissions.User{}
		}
		if req.User.Superuser {
			known, err := p.knownPermissions(ctx)
			if err != nil {
				return permissions.Result{}, err
			}
			req.Known = known
		}
	}
	res, err := p.mapper.Map(req)
	if errors.Is(err, permissions.ErrNoScope) {
		return res, ErrInvalidScope.WithDescription("none of the requested scopes can be granted to this user and client")
	}
	return res, err
}

// grantedScope is mapGrant's scope, for a session about to be stored: the
// session keeps only what its user may have, so a refresh never widens it.
func (p *Provider) grantedScope(ctx context.Context, cl *storage.Client, sub subject, scope string) (string, error) {
	res, err := p.mapGrant(ctx, cl, sub, scope)
	if err != nil {
		return "", err
	}
	return strings.Join(res.Scopes, " "), nil
}

// knownPermissions are every permission of every stored group: a
// superuser holds them all (Django's get_all_permissions). Cached like
// users (tokens.user_cache_ttl).
func (p *Provider) knownPermissions(ctx context.Context) ([]string, error) {
	return p.known.get(0, func() ([]string, error) {
		groups, err := p.store.ListGroups(ctx)
		if err != nil {
			return nil, fmt.Errorf("list groups: %w", err)
		}
		var out []string
		for _, g := range groups {
			out = append(out, g.Permissions...)
		}
		slices.Sort(out)
		return slices.Compact(out), nil
	})
}

// Explanation is what `latchkey users explain` prints: the mapper's
// decision for a user, a client and a scope, with the rule behind each
// line.
type Explanation struct {
	Scope       string
	Groups      []string
	Permissions []string
	Claims      map[string]any
	Trace       []permissions.Step
}

// Explain maps a token for the user userID and the client clientID as the
// token endpoint would (an empty scope asks for every scope of the
// client), without issuing anything. An error wrapping ErrInvalidScope
// still returns the trace.
func (p *Provider) Explain(ctx context.Context, userID int64, clientID, scope string) (*Explanation, error) {
	cl, err := p.clients.get(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("client %q: %w", clientID, err)
	}
	sub, err := p.readUser(ctx, userID)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(scope) == "" {
		scope = strings.Join(p.clientScopes(cl), " ")
	}
	res, err := p.mapRequest(ctx, cl, sub, scope, true)
	ex := &Explanation{
		Scope: strings.Join(res.Scopes, " "), Groups: res.Groups, Permissions: res.Permissions,
		Claims: res.Claims, Trace: res.Trace,
	}
	return ex, err
}

// UserScope is the part of scope the user may hold, as the permission
// mapper decides (a scope whose requires the user lacks is left out; any
// other scope is kept). The user API checks a personal access token's
// scope with it: a token never carries a scope its owner lacks.
func (p *Provider) UserScope(ctx context.Context, userID int64, scope string) (string, error) {
	sub, err := p.loadUser(ctx, userID, false)
	if err != nil {
		return "", err
	}
	cl := &storage.Client{ID: p.firstPartyID, Scope: scope}
	res, err := p.mapGrant(ctx, cl, sub, scope)
	if errors.Is(err, ErrInvalidScope) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.Join(res.Scopes, " "), nil
}
