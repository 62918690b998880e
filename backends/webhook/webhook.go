// Package webhook is the webhook backend: it delegates a password check to
// an HTTP service, so a password store latchkey does not know (LDAP, a
// legacy database, another product) plugs in without Go.
//
// The protocol (contract §7): POST {url} with JSON {"username",
// "password", "client_id", "request_id"}, signed with
// X-Latchkey-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." +
// body)> and X-Latchkey-Timestamp: <unix seconds>. The service answers 200
// with {"subject", "username", "email", "email_verified", "name",
// "groups"} for a valid password, and 401 or 403 for a refusal (a body
// {"error": "unknown_user"} says the login is not the service's, so the
// chain asks the next backend). Anything else — a timeout, a 5xx, a
// redirect, malformed JSON, an answer without a subject — is a failure of
// the backend, never a login.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/latchkey-auth/latchkey/backends"
)

// Header names of the protocol.
const (
	HeaderSignature = "X-Latchkey-Signature"
	HeaderTimestamp = "X-Latchkey-Timestamp"
)

// Config is a webhook backend's `config:` block.
type Config struct {
	// URL is where checks are POSTed: https, or http on a loopback host.
	URL string `yaml:"url"`
	// Secret (or SecretFile, a file holding it) keys the HMAC signature;
	// at least 32 bytes.
	Secret     string `yaml:"secret"`
	SecretFile string `yaml:"secret_file"`
	// Timeout bounds one check, from connecting to the last byte of the
	// answer (default 2s).
	Timeout time.Duration `yaml:"timeout"`
	// TLS configures the HTTPS call: CA bundle, client certificate (mTLS).
	TLS backends.TLSConfig `yaml:"tls"`
	// CircuitBreaker stops calling a webhook that keeps failing.
	CircuitBreaker Breaker `yaml:"circuit_breaker"`
	// LinkBy maps the answered identity to a local account: "external"
	// (default: sub is "{id}:{subject}"), "username" or "email" (verified
	// addresses only). Provision creates the account on first login.
	LinkBy    string `yaml:"link_by"`
	Provision bool   `yaml:"provision"`
}

// Breaker is the circuit breaker: after Failures consecutive failures the
// webhook is not called for Cooldown (checks fail at once, so a dead
// webhook costs one timeout per cooldown, not one per login); then one
// check is let through, and its outcome closes or re-opens the circuit.
type Breaker struct {
	Failures int           `yaml:"failures"` // default 5; -1 turns the breaker off
	Cooldown time.Duration `yaml:"cooldown"` // default 30s
}

const (
	defaultTimeout  = 2 * time.Second
	defaultFailures = 5
	defaultCooldown = 30 * time.Second
	maxAnswer       = 64 << 10
	minSecret       = 32
)

// Validate checks the block without opening anything.
func (c *Config) Validate() error {
	var errs []error
	if err := backends.CheckServiceURL("url", c.URL); err != nil {
		errs = append(errs, err)
	}
	switch {
	case c.Secret == "" && c.SecretFile == "":
		errs = append(errs, errors.New("secret: is required (or secret_file)"))
	case c.Secret != "" && c.SecretFile != "":
		errs = append(errs, errors.New("secret, secret_file: set one"))
	case c.Secret != "" && len(c.Secret) < minSecret:
		errs = append(errs, fmt.Errorf("secret: must be at least %d bytes", minSecret))
	}
	if c.Timeout < 0 || c.Timeout > time.Minute {
		errs = append(errs, errors.New("timeout: must be between 0 (default 2s) and 1m"))
	}
	if c.CircuitBreaker.Failures < -1 || c.CircuitBreaker.Cooldown < 0 {
		errs = append(errs, errors.New("circuit_breaker: failures must be -1 (off), 0 (default 5) or more; cooldown not negative"))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := backends.ValidateLink(c.LinkBy, c.Provision); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Open opens the backend.
func (c *Config) Open(id string, deps backends.Deps) (any, error) {
	s, err := backends.SecretFrom(c.Secret, c.SecretFile, "secret_file")
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	secret := []byte(s)
	if c.SecretFile != "" && len(secret) < minSecret {
		return nil, fmt.Errorf("webhook: secret_file: the secret must be at least %d bytes", minSecret)
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = defaultTimeout
	}
	client, err := backends.NewHTTPClient(c.TLS, timeout, false)
	if err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	failures, cooldown := c.CircuitBreaker.Failures, c.CircuitBreaker.Cooldown
	if failures == 0 {
		failures = defaultFailures
	}
	if cooldown == 0 {
		cooldown = defaultCooldown
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &backend{
		id: id, url: c.URL, secret: secret, client: client, timeout: timeout, log: log,
		breaker: &breaker{failures: failures, cooldown: cooldown, now: time.Now},
		link:    backends.Linker{Users: deps.Users, By: c.LinkBy, Provision: c.Provision},
		now:     time.Now,
	}, nil
}

type backend struct {
	id      string
	url     string
	secret  []byte
	client  *http.Client
	timeout time.Duration
	log     *slog.Logger
	breaker *breaker
	link    backends.Linker
	now     func() time.Time
}

var (
	_ backends.PasswordChecker  = (*backend)(nil)
	_ backends.PasswordVerifier = (*backend)(nil)
)

// ErrCircuitOpen is the error of a check not sent because the webhook
// failed too often lately.
var ErrCircuitOpen = errors.New("webhook: circuit open after repeated failures")

// CheckPassword implements backends.PasswordChecker.
func (b *backend) CheckPassword(ctx context.Context, login, password string) (backends.Identity, bool, error) {
	id, res, err := b.VerifyPassword(ctx, login, password)
	return id, res == backends.Accepted, err
}

type checkRequest struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	ClientID  string `json:"client_id"`
	RequestID string `json:"request_id"`
}

type checkAnswer struct {
	Subject       *string  `json:"subject"`
	Username      string   `json:"username"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name"`
	Groups        []string `json:"groups"`
}

// VerifyPassword implements backends.PasswordVerifier.
func (b *backend) VerifyPassword(ctx context.Context, login, password string) (backends.Identity, backends.Result, error) {
	if login == "" || password == "" {
		return backends.Identity{}, backends.UnknownUser, nil
	}
	if !b.breaker.allow() {
		return backends.Identity{}, backends.UnknownUser, ErrCircuitOpen
	}
	id, res, err := b.call(ctx, login, password)
	if err != nil {
		b.breaker.failed()
		return backends.Identity{}, backends.UnknownUser, err
	}
	b.breaker.succeeded()
	if res != backends.Accepted {
		return backends.Identity{}, res, nil
	}
	linked, err := b.link.Link(ctx, id)
	if errors.Is(err, backends.ErrNotLinked) {
		return backends.Identity{}, backends.WrongPassword, nil
	}
	if err != nil {
		return backends.Identity{}, backends.UnknownUser, fmt.Errorf("webhook %s: %w", b.id, err)
	}
	return linked, backends.Accepted, nil
}

// call makes one signed request and reads the answer. Errors name the
// backend and what went wrong, never the password or the secret.
func (b *backend) call(ctx context.Context, login, password string) (backends.Identity, backends.Result, error) {
	body, err := json.Marshal(checkRequest{Username: login, Password: password, ClientID: backends.ClientID(ctx), RequestID: rand.Text()})
	if err != nil {
		return backends.Identity{}, 0, fmt.Errorf("webhook %s: encode request: %w", b.id, err)
	}
	ts := strconv.FormatInt(b.now().Unix(), 10)
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.url, bytes.NewReader(body))
	if err != nil {
		return backends.Identity{}, 0, fmt.Errorf("webhook %s: build request: %w", b.id, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "latchkey-webhook/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(b.secret, ts, body))
	resp, err := b.client.Do(req)
	if err != nil {
		return backends.Identity{}, 0, fmt.Errorf("webhook %s: %w", b.id, redactURLError(err))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return backends.Identity{}, 0, fmt.Errorf("webhook %s: read answer: %w", b.id, redactURLError(err))
	}
	if len(raw) > maxAnswer {
		return backends.Identity{}, 0, fmt.Errorf("webhook %s: answer larger than %d bytes", b.id, maxAnswer)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized, http.StatusForbidden:
		var refusal struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &refusal) == nil && refusal.Error == "unknown_user" {
			return backends.Identity{}, backends.UnknownUser, nil
		}
		return backends.Identity{}, backends.WrongPassword, nil
	default:
		return backends.Identity{}, 0, fmt.Errorf("webhook %s: answered HTTP %d", b.id, resp.StatusCode)
	}
	var a checkAnswer
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&a); err != nil {
		return backends.Identity{}, 0, fmt.Errorf("webhook %s: malformed JSON answer", b.id)
	}
	if dec.More() {
		return backends.Identity{}, 0, fmt.Errorf("webhook %s: malformed JSON answer (trailing data)", b.id)
	}
	if a.Subject == nil || *a.Subject == "" {
		return backends.Identity{}, 0, fmt.Errorf("webhook %s: answer without a subject", b.id)
	}
	id := backends.Identity{
		Backend: b.id, Subject: *a.Subject, Username: a.Username, Email: a.Email,
		EmailVerified: a.EmailVerified, Name: a.Name, Groups: a.Groups,
	}
	if id.Username == "" {
		id.Username = login
	}
	if err := backends.CheckIdentity(id); err != nil {
		return backends.Identity{}, 0, fmt.Errorf("webhook %s: %w", b.id, err)
	}
	return id, backends.Accepted, nil
}

// redactURLError drops the URL from a client error (it may carry a query
// the operator considers secret); the cause stays.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// Sign returns the X-Latchkey-Signature value of a request: "sha256=" and
// the hex HMAC-SHA256, keyed by secret, of timestamp + "." + body.
func Sign(secret []byte, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(timestamp))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a request's signature and that its timestamp is within
// window of now: what a webhook service does before reading the body
// (examples/webhook). Comparisons are constant-time.
func Verify(secret []byte, timestamp, signature string, body []byte, now time.Time, window time.Duration) error {
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("webhook: bad timestamp")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > window || d < -window {
		return errors.New("webhook: timestamp outside the replay window")
	}
	if !hmac.Equal([]byte(Sign(secret, timestamp, body)), []byte(signature)) {
		return errors.New("webhook: bad signature")
	}
	return nil
}

// breaker is a small circuit breaker: closed until failures consecutive
// failures, then open for cooldown, then half-open for one trial call.
type breaker struct {
	failures int
	cooldown time.Duration
	now      func() time.Time

	mu        sync.Mutex
	streak    int
	openUntil time.Time
	trial     bool // a half-open trial call is in flight
}

func (c *breaker) allow() bool {
	if c.failures < 0 {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streak < c.failures {
		return true
	}
	if c.now().Before(c.openUntil) || c.trial {
		return false
	}
	c.trial = true
	return true
}

func (c *breaker) failed() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.streak++
	c.trial = false
	if c.failures >= 0 && c.streak >= c.failures {
		c.openUntil = c.now().Add(c.cooldown)
	}
}

func (c *breaker) succeeded() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.streak, c.trial = 0, false
}
