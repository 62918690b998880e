// Package audit records security-relevant events: logins, token
// revocations, changes to users, clients and signing keys. A Recorder
// writes each event as a log/slog line with "audit": true and appends it to
// the store (storage.AuditEvents), where GET /admin/events/ and
// `latchkey events tail` read it.
//
// Emitters (provider, accounts, clients) declare the one-method interface
// they use (Record) and get a *Recorder injected; a nil *Recorder records
// nothing. An event never holds a password, token or secret: emitters put
// IDs and names in it, and Record drops any Detail value that looks like
// one of latchkey's secrets (an lk_ prefix) as a last guard.
//
// Writing an event never fails the request it belongs to: when the store
// cannot take it, the log line has been written already and an error line
// (msg "audit event not stored") says so.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey-auth/latchkey/storage"
)

// Event is one audit event (see storage.AuditEvent for the fields).
type Event = storage.AuditEvent

// Event types (contract §5; admin_key.* are latchkey's own).
const (
	TypeLoginSucceeded       = "login.succeeded"
	TypeLoginFailed          = "login.failed"
	TypeLoginLocked          = "login.locked"
	TypeRefreshReuseDetected = "token.refresh_reuse_detected"
	TypeTokenRevoked         = "token.revoked"
	TypeUserCreated          = "user.created"
	TypeUserUpdated          = "user.updated"
	TypeUserDeleted          = "user.deleted"
	TypeUserPasswordChanged  = "user.password_changed"
	TypeUserPasswordReset    = "user.password_reset"
	TypeClientCreated        = "client.created"
	TypeClientUpdated        = "client.updated"
	TypeClientDeleted        = "client.deleted"
	TypeClientSecretRotated  = "client.secret_rotated"
	TypeKeyRotated           = "key.rotated"
	TypeSessionRevoked       = "session.revoked"
	TypeConsentGranted       = "consent.granted"
	TypeConsentRevoked       = "consent.revoked"
	TypeAdminKeyCreated      = "admin_key.created"
	TypeAdminKeyRevoked      = "admin_key.revoked"
)

// Outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

const (
	// maxText bounds every text field of an event, in bytes.
	maxText = 512
	// storeTimeout bounds the store write of one event.
	storeTimeout = 2 * time.Second
)

// Store is where events are kept.
type Store interface {
	AppendAuditEvent(ctx context.Context, e storage.AuditEvent) error
}

// Recorder records events to the log and the store.
type Recorder struct {
	store   Store
	log     *slog.Logger
	now     func() time.Time
	timeout time.Duration
}

// New returns a recorder writing to store (nil: the log only) and log.
func New(store Store, log *slog.Logger, now func() time.Time) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Recorder{store: store, log: log, now: now, timeout: storeTimeout}
}

// Record completes e (ID, time, outcome, and the actor, client and
// request's address and user agent from ctx when e has none), logs it and
// stores it. It never fails: a store error is logged. The store write is
// not cut short by the end of ctx (a client that hangs up does not erase
// its traces), but takes at most two seconds.
func (r *Recorder) Record(ctx context.Context, e Event) {
	if r == nil {
		return
	}
	e = r.complete(ctx, e)
	attrs := []slog.Attr{
		slog.Bool("audit", true), slog.String("event_id", e.ID), slog.String("type", e.Type),
		slog.String("outcome", e.Outcome),
	}
	for _, kv := range [][2]string{
		{"actor", e.Actor}, {"subject", e.Subject}, {"client_id", e.ClientID}, {"backend", e.Backend},
		{"ip", e.IP}, {"user_agent", e.UserAgent},
	} {
		if kv[1] != "" {
			attrs = append(attrs, slog.String(kv[0], kv[1]))
		}
	}
	if len(e.Detail) > 0 {
		d := make([]any, 0, 2*len(e.Detail))
		for k, v := range e.Detail {
			d = append(d, slog.String(k, v))
		}
		attrs = append(attrs, slog.Group("detail", d...))
	}
	r.log.LogAttrs(ctx, slog.LevelInfo, "audit event", attrs...)
	if r.store == nil {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	if err := r.store.AppendAuditEvent(sctx, e); err != nil {
		r.log.ErrorContext(ctx, "audit event not stored", "event_id", e.ID, "type", e.Type, "err", err)
	}
}

func (r *Recorder) complete(ctx context.Context, e Event) Event {
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	e.Time = e.Time.UTC()
	if e.Outcome == "" {
		e.Outcome = OutcomeSuccess
	}
	if info, ok := ctx.Value(requestKey{}).(requestInfo); ok {
		if e.IP == "" {
			e.IP = info.ip
		}
		if e.UserAgent == "" {
			e.UserAgent = info.userAgent
		}
	}
	if e.Actor == "" {
		e.Actor, _ = ctx.Value(actorKey{}).(string)
	}
	if e.ClientID == "" {
		e.ClientID, _ = ctx.Value(clientKey{}).(string)
	}
	for _, s := range []*string{&e.Type, &e.Outcome, &e.Actor, &e.Subject, &e.ClientID, &e.Backend, &e.IP, &e.UserAgent} {
		*s = clean(*s)
	}
	if len(e.Detail) > 0 {
		d := make(map[string]string, len(e.Detail))
		for k, v := range e.Detail {
			if looksSecret(v) {
				v = "[redacted]"
			}
			d[clean(k)] = clean(v)
		}
		e.Detail = d
	}
	return e
}

// looksSecret reports whether v holds one of latchkey's secrets.
func looksSecret(v string) bool {
	for _, p := range []string{"lk_rt_", "lk_at_", "lk_pat_", "lk_cs_", "lk_ak_"} {
		if strings.Contains(v, p) {
			return true
		}
	}
	return false
}

// clean makes s text every store keeps (valid UTF-8, no NUL) of at most
// maxText bytes: an event is never refused for what a client sent.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if len(s) <= maxText {
		return s
	}
	s = s[:maxText]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// NewID returns a new event ID: 128 random bits, hex.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type (
	requestKey  struct{}
	actorKey    struct{}
	clientKey   struct{}
	requestInfo struct{ ip, userAgent string }
)

// WithRequest returns ctx carrying the request's address and user agent,
// which Record puts in events that have none.
func WithRequest(ctx context.Context, ip, userAgent string) context.Context {
	return context.WithValue(ctx, requestKey{}, requestInfo{ip: ip, userAgent: userAgent})
}

// WithActor returns ctx carrying who acts (UserActor or KeyActor).
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// WithClient returns ctx carrying the OAuth client the request is for.
func WithClient(ctx context.Context, clientID string) context.Context {
	return context.WithValue(ctx, clientKey{}, clientID)
}

// UserActor names a user as an actor: "user:<id>".
func UserActor(id int64) string { return "user:" + strconv.FormatInt(id, 10) }

// KeyActor names an admin API key as an actor: "key:<id>".
func KeyActor(id string) string { return "key:" + id }
