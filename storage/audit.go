package storage

import (
	"context"
	"time"
)

// AuditEvent is one security-relevant event (package audit makes them).
// It never holds a password, token or secret.
type AuditEvent struct {
	ID        string // unique, made by the caller
	Time      time.Time
	Type      string // login.succeeded, user.created, … (audit.Type*)
	Outcome   string // success or failure
	Actor     string // who did it: "user:<id>", "key:<id>" or empty
	Subject   string // the user it concerns (a user ID), if any
	ClientID  string
	Backend   string
	IP        string
	UserAgent string
	Detail    map[string]string // more context; never a secret
}

// AuditQuery selects a page of events, newest first. Empty fields do not
// filter.
type AuditQuery struct {
	Type     string
	Subject  string // events whose Subject is this user ID
	ClientID string
	Since    time.Time // events at or after it
	// Cursor is the NextCursor of the previous page; empty starts at the
	// newest event.
	Cursor string
	Limit  int // 0 or less: 100
}

// AuditEvents stores audit events. Events are only appended, listed and
// purged; a cursor keeps its place while new events arrive.
type AuditEvents interface {
	// AppendAuditEvent stores an event; a duplicate ID is ErrConflict.
	AppendAuditEvent(ctx context.Context, e AuditEvent) error
	// ListAuditEvents returns one page of matching events, newest first
	// (in the order they were appended), and the cursor of the next page
	// ("" when this was the last). A cursor that is not one of the store's
	// is ErrInvalidInput.
	ListAuditEvents(ctx context.Context, q AuditQuery) ([]AuditEvent, string, error)
	// PurgeAuditEvents deletes events older than before and counts them.
	PurgeAuditEvents(ctx context.Context, before time.Time) (int, error)
}

// AdminKey is an lk_ak_ admin API key, by its keyed hash.
type AdminKey struct {
	ID        string // public identifier, shown in listings
	Hash      string // keyed hash of the key
	Name      string
	CreatedAt time.Time
}

// AdminKeys stores admin API keys. Revoking one deletes it.
type AdminKeys interface {
	// CreateAdminKey stores a key; a duplicate ID or hash is ErrConflict.
	CreateAdminKey(ctx context.Context, k AdminKey) error
	// AdminKey looks a key up by its hash.
	AdminKey(ctx context.Context, hash string) (AdminKey, error)
	// ListAdminKeys returns every key, newest first.
	ListAdminKeys(ctx context.Context) ([]AdminKey, error)
	// DeleteAdminKey deletes the key with the ID; an unknown one is ErrNotFound.
	DeleteAdminKey(ctx context.Context, id string) error
}
