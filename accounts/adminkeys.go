package accounts

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// AdminKey is an admin API key as listed; Key is set only in the answer
// that creates it.
type AdminKey struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	Key     string    `json:"key,omitempty"`
}

func adminKeyView(k storage.AdminKey) AdminKey {
	return AdminKey{ID: k.ID, Name: k.Name, Created: k.CreatedAt}
}

// errNoAdminKeys answers when no admin key store is configured.
var errNoAdminKeys = ErrNotFound

// AuthenticateAdmin admits the caller of /admin/: "Bearer lk_ak_…" (an
// admin API key, a superuser-equivalent actor), or a staff user
// authenticated as on /auth/. A user who is not staff is ErrForbidden.
func (s *Service) AuthenticateAdmin(ctx context.Context, header string) (*Principal, error) {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(header), " ")
	cred = strings.TrimSpace(cred)
	if strings.EqualFold(scheme, "Bearer") && provider.IsAdminKey(cred) {
		return s.authAdminKey(ctx, cred)
	}
	p, err := s.Authenticate(ctx, header)
	if err != nil {
		return nil, err
	}
	if !p.Staff() {
		return nil, ErrForbidden
	}
	return p, nil
}

func (s *Service) authAdminKey(ctx context.Context, raw string) (*Principal, error) {
	if s.opts.AdminKeys == nil || len(raw) > 256 {
		return nil, ErrTokenNotValid
	}
	hash := s.opts.Authenticator.HashSecret(raw)
	k, err := s.opts.AdminKeys.AdminKey(ctx, hash)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, ErrTokenNotValid
	}
	if err != nil {
		return nil, storeErr("look up admin key", err)
	}
	if subtle.ConstantTimeCompare([]byte(k.Hash), []byte(hash)) != 1 {
		return nil, ErrTokenNotValid
	}
	return &Principal{
		User:   storage.User{Username: "admin-key:" + k.Name, IsActive: true, IsStaff: true, IsSuperuser: true},
		Method: "admin_key", AdminKey: &k,
	}, nil
}

// CreateAdminKey makes an admin API key named name and returns it with the
// key, the only time it is shown. Only its keyed hash is stored.
func (s *Service) CreateAdminKey(ctx context.Context, name string) (AdminKey, error) {
	if s.opts.AdminKeys == nil {
		return AdminKey{}, errNoAdminKeys
	}
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return AdminKey{}, fieldError("name", "This field is required.")
	case utf8.RuneCountInString(name) > 100 || !storage.ValidText(name):
		return AdminKey{}, fieldError("name", "Ensure this field is valid text of at most 100 characters.")
	}
	raw := provider.NewSecret(provider.PrefixAdminKey)
	k := storage.AdminKey{ID: newAdminKeyID(), Hash: s.opts.Authenticator.HashSecret(raw), Name: name, CreatedAt: s.now()}
	if err := s.opts.AdminKeys.CreateAdminKey(ctx, k); err != nil {
		return AdminKey{}, storeErr("create admin key", err)
	}
	s.opts.Audit.Record(ctx, audit.Event{Type: audit.TypeAdminKeyCreated, Detail: map[string]string{"key_id": k.ID, "name": k.Name}})
	out := adminKeyView(k)
	out.Key = raw
	return out, nil
}

// ListAdminKeys lists the admin API keys, newest first (never the keys).
func (s *Service) ListAdminKeys(ctx context.Context) ([]AdminKey, error) {
	if s.opts.AdminKeys == nil {
		return []AdminKey{}, nil
	}
	list, err := s.opts.AdminKeys.ListAdminKeys(ctx)
	if err != nil {
		return nil, storeErr("list admin keys", err)
	}
	out := make([]AdminKey, len(list))
	for i, k := range list {
		out[i] = adminKeyView(k)
	}
	return out, nil
}

// RevokeAdminKey deletes an admin API key; it stops working at once.
func (s *Service) RevokeAdminKey(ctx context.Context, id string) error {
	if s.opts.AdminKeys == nil || len(id) > 64 {
		return ErrNotFound
	}
	if err := s.opts.AdminKeys.DeleteAdminKey(ctx, id); err != nil {
		return storeErr("revoke admin key", err)
	}
	s.opts.Audit.Record(ctx, audit.Event{Type: audit.TypeAdminKeyRevoked, Detail: map[string]string{"key_id": id}})
	return nil
}

// newAdminKeyID is a public key ID: "ak_" and 64 random bits, hex.
func newAdminKeyID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "ak_" + hex.EncodeToString(b[:])
}
