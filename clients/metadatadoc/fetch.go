package metadatadoc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/latchkey-auth/latchkey/clients"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// fetch gets and validates the document at u: a client cached for its
// max-age, or a refusal cached for ErrorCacheTTL.
func (f *Fetcher) fetch(ctx context.Context, u *url.URL, id string) entry {
	wait, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	select {
	case f.slots <- struct{}{}:
		defer func() { <-f.slots }()
	case <-wait.Done():
		// Not the document's fault: not remembered (expires now).
		return entry{err: &provider.MetadataDocumentError{Host: u.Host, Reason: "too many client metadata documents are being fetched; try again"}, expires: f.opts.Now()}
	}
	cl, maxAge, reason, err := f.get(ctx, u, id)
	now := f.opts.Now()
	if reason != "" {
		f.opts.Logger.InfoContext(ctx, "client metadata document refused", "host", u.Host, "reason", reason, "err", err)
		return entry{err: &provider.MetadataDocumentError{Host: u.Host, Reason: reason}, expires: now.Add(f.opts.ErrorCacheTTL)}
	}
	ttl := min(max(maxAge, f.opts.CacheMin), f.opts.CacheMax)
	f.opts.Logger.DebugContext(ctx, "client metadata document fetched", "client_id", id, "cache", ttl)
	return entry{client: cl, expires: now.Add(ttl)}
}

// get fetches the document and validates it. A refusal is a reason for
// the user (it names no address: the host may resolve to an internal one)
// and the error for the log.
func (f *Fetcher) get(ctx context.Context, u *url.URL, id string) (*storage.Client, time.Duration, string, error) {
	// The deadline covers the whole exchange, body included; a read cut
	// short by it is a timeout even when it ends without an error.
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, 0, "the client_id is not a valid URL", err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "latchkey (client metadata document fetch)")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, 0, fetchFailure(err, f.opts.Timeout), err
	}
	defer func() { _ = resp.Body.Close() }()
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return nil, 0, fmt.Sprintf("the document URL answered with a redirect (%d); redirects are not followed", resp.StatusCode), nil
	case resp.StatusCode != http.StatusOK:
		return nil, 0, fmt.Sprintf("the document URL answered %d, not 200", resp.StatusCode), nil
	}
	limit := f.opts.MaxBytes
	if resp.ContentLength > limit {
		return nil, 0, fmt.Sprintf("the document is larger than %d bytes", limit), nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, 0, fetchFailure(err, f.opts.Timeout), err
	}
	if int64(len(body)) > limit {
		return nil, 0, fmt.Sprintf("the document is larger than %d bytes", limit), nil
	}
	// The client_id is compared with the URL as the client sent it, not
	// normalized (the draft: simple string comparison).
	cl, reason := f.validate(id, body)
	if reason != "" {
		return nil, 0, reason, nil
	}
	cl.CreatedAt, cl.UpdatedAt = f.opts.Now(), f.opts.Now()
	return cl, maxAge(resp.Header, f.opts.Now()), "", nil
}

// fetchFailure says why a fetch failed, without the addresses involved.
func fetchFailure(err error, timeout time.Duration) string {
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, errAddressNotAllowed):
		return "its host is a private, loopback, link-local or otherwise internal address, which documents may not come from"
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return fmt.Sprintf("the document did not arrive within %s", timeout)
	case errors.As(err, &certErr):
		return "the document's server presented a certificate that is not trusted"
	default:
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) {
			return "its host name does not resolve"
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			return "its host refused the connection"
		}
		return "the document could not be fetched"
	}
}

// maxAge is how long the response may be cached (RFC 9111): its
// Cache-Control max-age, else its Expires; 0 for no-store, no-cache or
// neither (the floor then applies).
func maxAge(h http.Header, now time.Time) time.Duration {
	var age time.Duration = -1
	for _, d := range strings.Split(strings.Join(h.Values("Cache-Control"), ","), ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(name) {
		case "no-store", "no-cache":
			return 0
		case "max-age":
			n, err := strconv.ParseInt(strings.Trim(value, `"`), 10, 64)
			if err == nil && n >= 0 && age < 0 {
				age = time.Duration(min(n, 1<<30)) * time.Second
			}
		}
	}
	if age >= 0 {
		return age
	}
	if exp, err := http.ParseTime(h.Get("Expires")); err == nil && exp.After(now) {
		return exp.Sub(now)
	}
	return 0
}

// document is the client metadata a document may carry (RFC 7591 §2
// names) that latchkey uses.
type document struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	PostLogoutRedirectURIs  []string `json:"post_logout_redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Scope                   string   `json:"scope"`
}

// maxRedirectURIs bounds a document's redirect URIs.
const maxRedirectURIs = 20

// validate checks a document (the draft's §4 and §8): a JSON object whose
// client_id is the URL exactly, without a secret, for the none
// authentication method, the authorization code (and refresh token)
// grants, and redirect URIs registered clients could have. It answers the
// client, or the reason it is refused.
func (f *Fetcher) validate(id string, body []byte) (*storage.Client, string) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, "the document is not a JSON object"
	}
	for _, secret := range []string{"client_secret", "client_secret_expires_at"} {
		if _, ok := fields[secret]; ok {
			return nil, "the document carries a " + secret + "; a metadata document must not hold a secret"
		}
	}
	var d document
	if err := json.Unmarshal(body, &d); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, fmt.Sprintf("the document's %s must be a %s", safeField(typeErr.Field), jsonKind(typeErr.Type.String()))
		}
		return nil, "the document is not valid JSON"
	}
	if _, ok := fields["client_id"]; !ok {
		return nil, "the document has no client_id"
	}
	if d.ClientID != id {
		return nil, "the document's client_id is not the URL it was fetched from"
	}
	switch d.TokenEndpointAuthMethod {
	case "", provider.AuthNone:
	case "private_key_jwt":
		return nil, "token_endpoint_auth_method private_key_jwt is not supported here; use none (a public client with PKCE)"
	default:
		return nil, "token_endpoint_auth_method must be none: a metadata document client has no shared secret"
	}
	if len(d.GrantTypes) == 0 {
		d.GrantTypes = []string{provider.GrantAuthorizationCode}
	}
	for _, g := range d.GrantTypes {
		if g != provider.GrantAuthorizationCode && g != provider.GrantRefreshToken {
			return nil, "grant_types may only hold authorization_code and refresh_token"
		}
	}
	if !contains(d.GrantTypes, provider.GrantAuthorizationCode) {
		return nil, "grant_types must include authorization_code"
	}
	for _, rt := range d.ResponseTypes {
		if rt != "code" {
			return nil, "response_types may only hold code"
		}
	}
	if len(d.RedirectURIs) == 0 {
		return nil, "the document has no redirect_uris"
	}
	if len(d.RedirectURIs) > maxRedirectURIs || len(d.PostLogoutRedirectURIs) > maxRedirectURIs {
		return nil, fmt.Sprintf("a document may list at most %d redirect URIs", maxRedirectURIs)
	}
	for field, uris := range map[string][]string{"redirect_uris": d.RedirectURIs, "post_logout_redirect_uris": d.PostLogoutRedirectURIs} {
		for _, raw := range uris {
			if rule := clients.RedirectRule(raw); rule != "" {
				return nil, fmt.Sprintf("%s: %s is refused: %s", field, strconv.Quote(truncate(raw, 100)), rule)
			}
		}
	}
	scope, reason := f.scope(d.Scope)
	if reason != "" {
		return nil, reason
	}
	name, ok := cleanName(d.ClientName)
	if !ok {
		return nil, "client_name holds control characters"
	}
	return &storage.Client{
		ID: id, Name: name, RedirectURIs: d.RedirectURIs, PostLogoutRedirectURIs: d.PostLogoutRedirectURIs,
		GrantTypes: d.GrantTypes, ResponseTypes: []string{"code"}, Scope: scope,
		TokenEndpointAuthMethod: provider.AuthNone, AccessTokenFormat: "jwt",
	}, ""
}

// scope is what the client may ask for: the configured scopes, narrowed to
// those the document names when it names some.
func (f *Fetcher) scope(requested string) (string, string) {
	if strings.TrimSpace(requested) == "" {
		return strings.Join(f.scopes, " "), ""
	}
	var out []string
	for _, s := range strings.Fields(requested) {
		if contains(f.scopes, s) && !contains(out, s) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return "", "none of the scopes the document asks for is offered to such clients here"
	}
	return strings.Join(out, " "), ""
}

// cleanName trims the display name and cuts it to 100 characters; control
// characters refuse it.
func cleanName(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if !utf8.ValidString(s) {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u202e' || r == '\u202d' {
			return "", false
		}
	}
	return truncate(s, 100), true
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// safeField echoes a JSON field name of ours (a struct field path).
func safeField(s string) string {
	for _, c := range s {
		if !(c == '_' || c == '.' || unicode.IsLetter(c) || unicode.IsDigit(c)) {
			return "field"
		}
	}
	return s
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "list of strings"
	default:
		return "string"
	}
}
