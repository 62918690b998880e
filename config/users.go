package config

import (
	"net/url"
	"strings"
	"time"
)

// UserAPI configures the djoser / SimpleJWT / knox compatible user API
// (contract section 4). Its keys sit in the users section, beside
// users.login_fields and users.registration.
type UserAPI struct {
	// APIPrefix is where the user API is mounted (djoser's urls under /auth/).
	APIPrefix string `yaml:"api_prefix"`
	// FirstPartyClient is the public client /auth/jwt/* and /auth/token/login
	// issue tokens to; it is created on startup when missing.
	FirstPartyClient string `yaml:"first_party_client"`
	// RevokeSessionsOnPasswordChange ends the caller's other sessions (refresh
	// families and login tokens) on set_password.
	RevokeSessionsOnPasswordChange bool `yaml:"revoke_sessions_on_password_change"`
	// BasicAuth accepts "Authorization: Basic" (username and password) on
	// /auth/ and /admin/.
	BasicAuth bool `yaml:"basic_auth"`
	// Retype requires re_password / re_new_password / re_new_username /
	// re_new_email, as djoser's *_RETYPE settings.
	Retype Retype `yaml:"retype"`
	// ProfileSchema is a JSON schema (inline JSON or YAML text) the profile
	// attributes are validated against; ProfileSchemaFile reads it from a
	// file instead. Empty: any JSON object.
	ProfileSchema     string `yaml:"profile_schema"`
	ProfileSchemaFile string `yaml:"profile_schema_file"`
	// Password is the password policy of new passwords.
	Password PasswordPolicy `yaml:"password"`
	// FrontendURL is the front-end that serves the e-mails' links (djoser's
	// DOMAIN): with it (or Domain) set, the links are ActivationURL, ... under
	// it; with neither, the activation and password-reset links open the
	// hosted pages under the issuer (handlers/pages).
	FrontendURL string `yaml:"frontend_url"`
	// ActivationURL, PasswordResetURL and UsernameResetURL are the links of
	// the e-mails, relative to protocol://domain/, with {uid} and {token}.
	ActivationURL    string `yaml:"activation_url"`
	PasswordResetURL string `yaml:"password_reset_url"`
	UsernameResetURL string `yaml:"username_reset_url"`
	// SiteName, Domain and Protocol fill the e-mails; Domain and Protocol
	// default to the issuer's.
	SiteName string `yaml:"site_name"`
	Domain   string `yaml:"domain"`
	Protocol string `yaml:"protocol"`
	// ResetTokenTTL is how long activation and reset links work (Django's
	// PASSWORD_RESET_TIMEOUT).
	ResetTokenTTL time.Duration `yaml:"reset_token_ttl"`
	// LoginTokenTTL is the lifetime of /auth/token/login tokens (knox's
	// TOKEN_TTL); PersonalTokenTTL is the default and longest lifetime of a
	// personal access token.
	LoginTokenTTL    time.Duration `yaml:"login_token_ttl"`
	PersonalTokenTTL time.Duration `yaml:"personal_token_ttl"`
	// PageSize is the default page size of lists (at most 100).
	PageSize int `yaml:"page_size"`
	// RestAuth is the dj-rest-auth route set; DRFJWT the legacy
	// django-rest-framework-jwt routes.
	RestAuth RouteSet `yaml:"rest_auth"`
	DRFJWT   RouteSet `yaml:"drf_jwt"`
}

// Retype lists djoser's *_RETYPE settings.
type Retype struct {
	UserCreatePassword   bool `yaml:"user_create_password"`
	SetPassword          bool `yaml:"set_password"`
	SetUsername          bool `yaml:"set_username"`
	PasswordResetConfirm bool `yaml:"password_reset_confirm"`
	UsernameResetConfirm bool `yaml:"username_reset_confirm"`
}

// PasswordPolicy are Django's AUTH_PASSWORD_VALIDATORS as options.
type PasswordPolicy struct {
	// MinLength is MinimumLengthValidator's min_length.
	MinLength int `yaml:"min_length"`
	// Common refuses passwords of the common-password list.
	Common bool `yaml:"common"`
	// Numeric refuses entirely numeric passwords.
	Numeric bool `yaml:"numeric"`
	// Similarity refuses passwords too similar to the username, e-mail or
	// names (UserAttributeSimilarityValidator's max_similarity, 0 turns it off).
	Similarity float64 `yaml:"similarity"`
}

// RouteSet is an optional set of compatibility routes.
type RouteSet struct {
	Enabled bool   `yaml:"enabled"`
	Prefix  string `yaml:"prefix"`
}

func defaultUserAPI() UserAPI {
	return UserAPI{
		APIPrefix:                      "/auth",
		FirstPartyClient:               "latchkey-api",
		RevokeSessionsOnPasswordChange: true,
		Password:                       PasswordPolicy{MinLength: 8, Common: true, Numeric: true, Similarity: 0.7},
		ActivationURL:                  "#/activate/{uid}/{token}",
		PasswordResetURL:               "#/password/reset/confirm/{uid}/{token}",
		UsernameResetURL:               "#/username/reset/confirm/{uid}/{token}",
		SiteName:                       "latchkey",
		ResetTokenTTL:                  72 * time.Hour,
		LoginTokenTTL:                  10 * time.Hour,
		PersonalTokenTTL:               90 * 24 * time.Hour,
		PageSize:                       20,
		RestAuth:                       RouteSet{Enabled: true, Prefix: "/rest-auth"},
		DRFJWT:                         RouteSet{Enabled: true, Prefix: ""},
	}
}

func (c *Config) validateUserAPI(p *problems) {
	u := c.Users.API
	checkPrefix(p, "users.api_prefix", u.APIPrefix, false)
	if u.RestAuth.Enabled {
		checkPrefix(p, "users.rest_auth.prefix", u.RestAuth.Prefix, false)
	}
	if u.DRFJWT.Enabled {
		checkPrefix(p, "users.drf_jwt.prefix", u.DRFJWT.Prefix, true)
	}
	if u.FirstPartyClient == "" || strings.Trim(u.FirstPartyClient, "0123456789") == "" || strings.ContainsAny(u.FirstPartyClient, " /\t") {
		p.add("users.first_party_client", "must be a client ID (letters, digits, '.', '_', '~', '-', not all digits), got %q", u.FirstPartyClient)
	}
	if u.ProfileSchema != "" && u.ProfileSchemaFile != "" {
		p.add("users.profile_schema_file", "set users.profile_schema or users.profile_schema_file, not both")
	}
	if u.Password.MinLength < 1 || u.Password.MinLength > 1024 {
		p.add("users.password.min_length", "must be from 1 to 1024, got %d", u.Password.MinLength)
	}
	if u.Password.Similarity < 0 || u.Password.Similarity > 1 {
		p.add("users.password.similarity", "must be from 0 (off) to 1, got %g", u.Password.Similarity)
	}
	for _, l := range []struct{ key, v string }{
		{"users.activation_url", u.ActivationURL},
		{"users.password_reset_url", u.PasswordResetURL},
		{"users.username_reset_url", u.UsernameResetURL},
	} {
		if !strings.Contains(l.v, "{uid}") || !strings.Contains(l.v, "{token}") {
			p.add(l.key, "must contain {uid} and {token}, got %q", l.v)
		}
	}
	if u.Protocol != "" {
		oneOf(p, "users.protocol", u.Protocol, "http", "https")
	}
	if u.FrontendURL != "" {
		f, err := url.Parse(u.FrontendURL)
		if err != nil || (f.Scheme != "http" && f.Scheme != "https") || f.Host == "" || f.User != nil || f.RawQuery != "" || f.Fragment != "" || strings.HasSuffix(u.FrontendURL, "#") {
			p.add("users.frontend_url", "must be an http(s) URL without query or fragment, such as https://app.example.com, got %q", u.FrontendURL)
		}
	}
	positive(p, "users.reset_token_ttl", u.ResetTokenTTL)
	positive(p, "users.login_token_ttl", u.LoginTokenTTL)
	positive(p, "users.personal_token_ttl", u.PersonalTokenTTL)
	if u.PageSize < 1 || u.PageSize > 100 {
		p.add("users.page_size", "must be from 1 to 100, got %d", u.PageSize)
	}
}

// checkPrefix checks a route prefix: "" (only when allowed) or "/name"
// without a trailing slash.
func checkPrefix(p *problems, key, v string, emptyOK bool) {
	if v == "" && emptyOK {
		return
	}
	if !strings.HasPrefix(v, "/") || strings.HasSuffix(v, "/") || strings.ContainsAny(v, " ?#*:") {
		want := `a path such as "/auth" (leading slash, no trailing slash)`
		if emptyOK {
			want += ` or ""`
		}
		p.add(key, "must be %s, got %q", want, v)
	}
}

// UserAPIDomain returns users.domain and users.protocol, defaulting to
// users.frontend_url's host (and path) and scheme, else the issuer's.
func (c *Config) UserAPIDomain() (protocol, domain string) {
	protocol, domain = c.Users.API.Protocol, c.Users.API.Domain
	base := c.Issuer
	if c.Users.API.FrontendURL != "" {
		base = strings.TrimRight(c.Users.API.FrontendURL, "/")
	}
	scheme, rest, ok := strings.Cut(base, "://")
	if !ok {
		return protocol, domain
	}
	if protocol == "" {
		protocol = scheme
	}
	if domain == "" {
		domain = rest
		if c.Users.API.FrontendURL == "" {
			domain, _, _ = strings.Cut(rest, "/")
		}
	}
	return protocol, domain
}

// HostedMailLinks reports whether the activation and password-reset e-mails
// link to the hosted pages under the issuer: no front-end is configured
// (users.frontend_url and users.domain are empty).
func (c *Config) HostedMailLinks() bool {
	return c.Users.API.FrontendURL == "" && c.Users.API.Domain == ""
}
