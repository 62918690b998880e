// Package permissions is latchkey's permission mapper: one pure function
// (Mapper.Map) from a user's facts (superuser and staff flags, groups, the
// user's own permissions, attributes), the client's allowed scopes and the
// requested scopes to the scopes granted, the groups and permissions claims
// and the extra claims each granted scope releases, with a trace of the
// rule behind every decision (`latchkey users explain`). It is driven by
// the `permissions:` configuration (contract §6, docs/permissions.md) and
// imports no storage: the provider passes it plain values.
//
// The rules, in order:
//
//   - Held permissions are the union of the user's groups' permissions and
//     the user's own (Django's user_permissions). A staff user (is_staff)
//     also holds AdminRole ("admin"), the admin role, as a permission, so
//     resource servers check it like any other (resourceserver.IsAdminUser
//     does). A superuser holds every permission: every permission that
//     exists (Request.Known: the stored groups' permissions), every one the
//     configuration names, and AdminRole.
//   - A requested scope the client may not ask for is dropped. A scope with
//     a permissions.scopes entry is granted to a user only when the user
//     holds every permission it requires; one without an entry only needs
//     the client. Client tokens (client_credentials) are not subject to
//     requires: the client's registered scopes are its authorization.
//     Dropped scopes are left out of the answer's scope, as RFC 6749 §3.3
//     allows; when nothing of a non-empty request remains, Map fails with
//     ErrNoScope (invalid_scope).
//   - Without any permissions.scopes entry the permissions claim holds
//     every permission of the user (as before the mapper existed); with
//     entries, only those the covers patterns of the granted scopes match.
//   - User tokens always carry groups and permissions (empty lists when
//     there are none); client tokens carry neither (Result.User is false).
package permissions

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/latchkey-auth/latchkey/config"
)

// AdminRole is the permission a staff user holds: "is_staff is the admin
// role" (contract §6).
const AdminRole = "admin"

// StandardScopes are the OIDC and OAuth scopes latchkey knows without
// configuration (contract §6).
var StandardScopes = []string{"openid", "profile", "email", "offline_access", "groups"}

// ErrNoScope is Map's answer when none of the requested scopes can be
// granted: the token endpoint answers invalid_scope (RFC 6749 §5.2).
// An empty request is not an error: it grants nothing.
var ErrNoScope = errors.New("none of the requested scopes can be granted")

// Group is one of the user's groups.
type Group struct {
	Name        string
	Permissions []string
}

// User is what the mapper knows of a user.
type User struct {
	Superuser bool
	Staff     bool
	Groups    []Group
	// Permissions are the user's own permissions (Django's
	// user_permissions); they count like a group's.
	Permissions []string
	// Attributes are the sources of configured claims: "username",
	// "email", "first_name", ... and "profile" (a JSON object).
	Attributes map[string]any
}

// Request is one mapping.
type Request struct {
	// User is nil for a client's token for itself (client_credentials).
	User *User
	// Client is the client's ID (for the trace); ClientScopes are the
	// scopes it may ask for.
	Client       string
	ClientScopes []string
	// Requested are the candidate scopes (the caller resolves "none asked
	// for" to the client's scopes, as grantScope does).
	Requested []string
	// Known are the permissions that exist besides the configured ones
	// (the stored groups'): a superuser holds all of them.
	Known []string
	// Explain asks for Result.Trace. The token endpoint leaves it off: the
	// trace's sentences cost more than the mapping itself.
	Explain bool
}

// Result is what a token carries.
type Result struct {
	Scopes []string
	// User is false for a client's token: Groups and Permissions are then
	// nil and must not be written.
	User        bool
	Groups      []string // sorted, never nil for a user
	Permissions []string // sorted, never nil for a user
	// Claims are the configured extra claims of the granted scopes that
	// have a value (ID token and userinfo).
	Claims map[string]any
	Trace  []Step
}

// Step is one line of the explanation: what was decided about a scope,
// permission, group or claim, and by which rule.
type Step struct {
	Kind    string // "scope", "group", "permission" or "claim"
	Name    string
	Granted bool
	Rule    string
}

func (s Step) String() string {
	mark := "-"
	if s.Granted {
		mark = "+"
	}
	return fmt.Sprintf("%s %-10s %-28s %s", mark, s.Kind, s.Name, s.Rule)
}

type scopeRule struct {
	requires []string
	covers   []string
}

type claimRule struct {
	name   string
	source []string // "profile", "department" or "username"
	raw    string
}

// Mapper applies a checked configuration; it is immutable and safe for
// concurrent use. A nil Mapper has no rules: every scope
// the client may ask for is granted and tokens carry every permission.
type Mapper struct {
	groups     map[string][]string
	scopes     map[string]scopeRule
	claims     map[string][]claimRule
	configured []string // every permission the configuration names
}

// New checks cfg and returns its Mapper. Every problem is reported at once,
// each naming its key ("permissions.scopes.products:read.covers[0]: ...").
func New(cfg config.Permissions) (*Mapper, error) {
	m := &Mapper{groups: map[string][]string{}, scopes: map[string]scopeRule{}, claims: map[string][]claimRule{}}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &config.FieldError{Key: key, Message: fmt.Sprintf(format, args...)})
	}
	named := map[string]bool{}
	for _, name := range sortedKeys(cfg.Groups) {
		key := "permissions.groups." + name
		if !ValidGroupName(name) {
			bad(key, "%q is not a group name: 1 to 150 letters, digits, spaces or _.@+-", name)
		}
		for i, perm := range cfg.Groups[name] {
			if err := checkPermission(perm); err != nil {
				bad(fmt.Sprintf("%s[%d]", key, i), "%v", err)
			}
			named[perm] = true
		}
		m.groups[name] = sortedUnique(cfg.Groups[name])
	}
	for _, name := range sortedKeys(cfg.Scopes) {
		key := "permissions.scopes." + name
		if !validScope(name) {
			bad(key, "%q is not a scope (RFC 6749 §3.3: printable ASCII without spaces, quotes or backslashes)", name)
		}
		r := cfg.Scopes[name]
		for i, perm := range r.Requires {
			if err := checkPermission(perm); err != nil {
				bad(fmt.Sprintf("%s.requires[%d]", key, i), "%v", err)
			}
			named[perm] = true
		}
		for i, pat := range r.Covers {
			if err := checkPattern(pat); err != nil {
				bad(fmt.Sprintf("%s.covers[%d]", key, i), "%v", err)
			}
		}
		m.scopes[name] = scopeRule{requires: sortedUnique(r.Requires), covers: slices.Clone(r.Covers)}
	}
	for _, scope := range sortedKeys(cfg.Claims) {
		key := "permissions.claims." + scope
		if _, ok := m.scopes[scope]; !ok && !slices.Contains(StandardScopes, scope) {
			bad(key, "unknown scope %q: not a standard scope (%s) nor one of permissions.scopes", scope, strings.Join(StandardScopes, ", "))
		}
		for _, claim := range sortedKeys(cfg.Claims[scope]) {
			src := cfg.Claims[scope][claim]
			ckey := key + "." + claim
			if err := checkClaimName(claim); err != nil {
				bad(ckey, "%v", err)
			}
			parts, err := parseSource(src)
			if err != nil {
				bad(ckey, "%v", err)
			}
			m.claims[scope] = append(m.claims[scope], claimRule{name: claim, source: parts, raw: src})
		}
	}
	m.configured = sortedKeys(named)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Groups returns the configured groups and their permissions (seeded at
// start when missing).
func (m *Mapper) Groups() map[string][]string {
	if m == nil {
		return nil
	}
	out := make(map[string][]string, len(m.groups))
	for k, v := range m.groups {
		out[k] = slices.Clone(v)
	}
	return out
}

// Scopes returns the scopes that have a permissions.scopes entry, sorted.
func (m *Mapper) Scopes() []string {
	if m == nil {
		return nil
	}
	return sortedKeys(m.scopes)
}

// Mapped reports whether any scope has a permissions.scopes entry: then a
// token's permissions are limited to what its scopes cover.
func (m *Mapper) Mapped() bool { return m != nil && len(m.scopes) > 0 }

// Map decides a token's scopes and claims. It is pure: the same request
// always gives the same result. ErrNoScope when none of a non-empty list
// of candidate scopes can be granted.
func (m *Mapper) Map(r Request) (Result, error) {
	if m == nil {
		m = &Mapper{}
	}
	var res Result
	held := map[string]string{} // permission → why the user holds it (with Explain; else "" for groups)
	if r.User != nil {
		res.User = true
		held = m.held(r, &res)
	}
	seen := map[string]bool{}
	for _, s := range r.Requested {
		if seen[s] {
			continue
		}
		seen[s] = true
		v, missing := m.decideScope(r, s, held)
		ok := v.granted()
		if r.Explain {
			res.Trace = append(res.Trace, Step{Kind: "scope", Name: s, Granted: ok, Rule: m.explainScope(r, s, v, missing)})
		}
		if ok {
			res.Scopes = append(res.Scopes, s)
		}
	}
	if len(res.Scopes) == 0 && len(seen) > 0 {
		return res, ErrNoScope
	}
	if r.User == nil {
		return res, nil
	}
	res.Permissions = []string{}
	for _, perm := range sortedKeys(held) {
		why, ok := m.covered(perm, res.Scopes, r.Explain)
		if ok {
			res.Permissions = append(res.Permissions, perm)
		}
		if r.Explain {
			if ok {
				why = held[perm] + "; " + why
			} else {
				why = held[perm] + "; but " + why
			}
			res.Trace = append(res.Trace, Step{Kind: "permission", Name: perm, Granted: ok, Rule: why})
		}
	}
	res.Claims = m.extraClaims(r.User, res.Scopes, r.Explain, &res.Trace)
	return res, nil
}

// held collects the user's permissions and group names.
func (m *Mapper) held(r Request, res *Result) map[string]string {
	u := r.User
	held := map[string]string{}
	add := func(perm, why string) {
		if _, ok := held[perm]; !ok && perm != "" {
			held[perm] = why
		}
	}
	res.Groups = []string{}
	groups := slices.Clone(u.Groups)
	sort.Slice(groups, func(i, j int) bool { return groups[i].Name < groups[j].Name })
	for _, g := range groups {
		res.Groups = append(res.Groups, g.Name)
		why := ""
		if r.Explain {
			res.Trace = append(res.Trace, Step{Kind: "group", Name: g.Name, Granted: true, Rule: "member"})
			why = "from group " + g.Name
		}
		for _, perm := range sortedUnique(g.Permissions) {
			add(perm, why)
		}
	}
	for _, perm := range sortedUnique(u.Permissions) {
		add(perm, "the user's own permission")
	}
	if u.Staff {
		add(AdminRole, "is_staff: the admin role")
	}
	if u.Superuser {
		add(AdminRole, "is_superuser holds every permission")
		for _, perm := range m.configured {
			add(perm, "is_superuser holds every permission")
		}
		for _, perm := range r.Known {
			add(perm, "is_superuser holds every permission")
		}
	}
	return held
}

// scopeVerdict is why a requested scope is granted or dropped.
type scopeVerdict int

const (
	scopeNotAllowed      scopeVerdict = iota // the client may not ask for it
	scopeUnmapped                            // no permissions.scopes entry
	scopeForClient                           // a client's own token: requires applies to users only
	scopeRequiresNothing                     // its entry requires nothing
	scopeLacking                             // the user lacks some of what it requires
	scopeHeld                                // the user holds all it requires
)

func (v scopeVerdict) granted() bool { return v != scopeNotAllowed && v != scopeLacking }

// decideScope decides the scope s; missing is what the user lacks
// (scopeLacking).
func (m *Mapper) decideScope(r Request, s string, held map[string]string) (v scopeVerdict, missing []string) {
	if !slices.Contains(r.ClientScopes, s) {
		return scopeNotAllowed, nil
	}
	rule, mapped := m.scopes[s]
	switch {
	case !mapped:
		return scopeUnmapped, nil
	case r.User == nil:
		return scopeForClient, nil
	case len(rule.requires) == 0:
		return scopeRequiresNothing, nil
	}
	for _, perm := range rule.requires {
		if _, ok := held[perm]; !ok {
			missing = append(missing, perm)
		}
	}
	if len(missing) > 0 {
		return scopeLacking, missing
	}
	return scopeHeld, nil
}

// explainScope is the trace's sentence for decideScope's verdict.
func (m *Mapper) explainScope(r Request, s string, v scopeVerdict, missing []string) string {
	switch v {
	case scopeNotAllowed:
		return fmt.Sprintf("client %s may not ask for it (dropped)", r.Client)
	case scopeUnmapped:
		return fmt.Sprintf("client %s may ask for it; no permissions.scopes entry", r.Client)
	case scopeForClient:
		return fmt.Sprintf("client %s may ask for it (requires applies to users only)", r.Client)
	case scopeRequiresNothing:
		return "permissions.scopes." + s + " requires nothing"
	case scopeLacking:
		return fmt.Sprintf("permissions.scopes.%s requires %s, which the user lacks (dropped)", s, strings.Join(missing, ", "))
	default:
		return fmt.Sprintf("permissions.scopes.%s requires %s: held", s, strings.Join(m.scopes[s].requires, ", "))
	}
}

// covered reports whether a granted scope releases perm, and (explain) why.
func (m *Mapper) covered(perm string, granted []string, explain bool) (string, bool) {
	if len(m.scopes) == 0 {
		return "no permissions.scopes: every permission is released", true
	}
	for _, s := range granted {
		for _, pat := range m.scopes[s].covers {
			if ok, _ := path.Match(pat, perm); ok {
				if !explain {
					return "", true
				}
				return fmt.Sprintf("covered by scope %s (%q)", s, pat), true
			}
		}
	}
	return "no granted scope covers it", false
}

// extraClaims resolves the configured claims of the granted scopes.
func (m *Mapper) extraClaims(u *User, granted []string, explain bool, trace *[]Step) map[string]any {
	var out map[string]any
	for _, s := range granted {
		for _, c := range m.claims[s] {
			v, ok := lookup(u.Attributes, c.source)
			var rule string
			if explain {
				rule = fmt.Sprintf("permissions.claims.%s: from %s", s, c.raw)
			}
			if !ok {
				if explain {
					*trace = append(*trace, Step{Kind: "claim", Name: c.name, Rule: rule + " (not set)"})
				}
				continue
			}
			if _, dup := out[c.name]; dup {
				continue
			}
			if out == nil {
				out = map[string]any{}
			}
			out[c.name] = v
			if explain {
				*trace = append(*trace, Step{Kind: "claim", Name: c.name, Granted: true, Rule: rule})
			}
		}
	}
	return out
}

func lookup(attrs map[string]any, p []string) (any, bool) {
	var cur any = attrs
	for _, k := range p {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok || cur == nil {
			return nil, false
		}
	}
	return cur, true
}

// UserAttributes are the user attributes a claim may come from, besides
// "profile.<key>".
var UserAttributes = []string{"id", "username", "email", "email_verified", "first_name", "last_name", "is_staff", "is_superuser", "date_joined"}

// reservedClaims are set by latchkey itself and cannot be configured.
var reservedClaims = []string{
	"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "sid", "auth_time",
	"username", "groups", "permissions", "nonce", "azp", "amr", "acr", "at_hash", "c_hash", "act", "cnf",
	"preferred_username", "name", "given_name", "family_name", "email", "email_verified",
}

func checkClaimName(name string) error {
	if name == "" || strings.ContainsAny(name, " \t\n\"\\") {
		return fmt.Errorf("%q is not a claim name", name)
	}
	if slices.Contains(reservedClaims, name) {
		return fmt.Errorf("claim %q is set by latchkey and cannot be configured", name)
	}
	return nil
}

func parseSource(src string) ([]string, error) {
	if slices.Contains(UserAttributes, src) {
		return []string{src}, nil
	}
	if rest, ok := strings.CutPrefix(src, "profile."); ok {
		parts := strings.Split(rest, ".")
		if !slices.Contains(parts, "") {
			return append([]string{"profile"}, parts...), nil
		}
	}
	return nil, fmt.Errorf("unknown source %q: want one of %s or profile.<key>", src, strings.Join(UserAttributes, ", "))
}

// ValidGroupName reports whether name is a group name the admin API
// accepts (accounts/groups.go uses it too, so a seeded group is one
// /admin/groups/ can edit): 1 to 150 letters, digits, spaces and _ . @ + -.
//
// It is the regular expression ^[\pL\pN _.@+-]{1,150}$ written out: compiled,
// that expression's 150 copies of two Unicode classes took 5.6 MiB of
// pointer-filled heap (its one-pass tables), which every garbage
// collection had to mark, for a check made when groups are edited.
func ValidGroupName(name string) bool {
	n := 0
	for _, r := range name {
		n++
		if n > 150 || !(unicode.IsLetter(r) || unicode.IsNumber(r) || strings.ContainsRune(" _.@+-", r)) {
			return false
		}
	}
	return n > 0
}

// ValidPermission reports whether perm looks like app_label.codename: 1 to
// 255 ASCII letters, digits and _ . : -, not starting with . : or -
// (^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,254}$).
func ValidPermission(perm string) bool {
	if perm == "" || len(perm) > 255 {
		return false
	}
	for i := 0; i < len(perm); i++ {
		c := perm[i]
		word := c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !word && (i == 0 || c != '.' && c != ':' && c != '-') {
			return false
		}
	}
	return true
}

func checkPermission(perm string) error {
	if !ValidPermission(perm) {
		return fmt.Errorf("%q is not a permission: want app_label.codename (letters, digits, '_', '.', ':', '-')", perm)
	}
	return nil
}

func checkPattern(pat string) error {
	if pat == "" {
		return errors.New("an empty pattern covers nothing")
	}
	// path.Match checks the whole pattern, whatever the name.
	if _, err := path.Match(pat, ""); err != nil {
		return fmt.Errorf("malformed pattern %q: %v", pat, err)
	}
	return nil
}

// validScope reports whether s is an RFC 6749 §3.3 scope-token.
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedUnique(l []string) []string {
	out := slices.Clone(l)
	sort.Strings(out)
	return slices.Compact(out)
}
