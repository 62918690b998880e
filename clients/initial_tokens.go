package clients

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/storage"
)

// Limits of initial access tokens.
const (
	// DefaultInitialAccessTokenTTL is the lifetime of a token made without
	// one.
	DefaultInitialAccessTokenTTL = 24 * time.Hour
	// MaxInitialAccessTokenTTL is the longest lifetime a token may have.
	MaxInitialAccessTokenTTL = 366 * 24 * time.Hour
)

// ErrInitialAccessTokenNotFound: no token has the ID.
var ErrInitialAccessTokenNotFound = &provider.Error{Code: "not_found", Status: http.StatusNotFound, Description: "no such registration token"}

// InitialAccessToken is an initial access token as the admin API and the
// CLI show it. Token, the secret, is set only when it is made.
type InitialAccessToken struct {
	ID        string `json:"id"`
	Token     string `json:"token,omitempty"`
	Name      string `json:"name"`
	CreatedAt int64  `json:"created_at"`
	ExpiresAt int64  `json:"expires_at"`
	MaxUses   int    `json:"max_uses"` // 0: any number
	Uses      int    `json:"uses"`
}

// NewInitialAccessToken is what makes one: a name, a lifetime (0: a day)
// and how many registrations it allows (0: any number until it expires).
type NewInitialAccessToken struct {
	Name      string `json:"name"`
	ExpiresIn int64  `json:"expires_in"` // seconds
	MaxUses   int    `json:"max_uses"`
}

// CreateInitialAccessToken makes an lk_iat_ token; the secret is in the
// answer only.
func (r *Registrar) CreateInitialAccessToken(ctx context.Context, n NewInitialAccessToken) (InitialAccessToken, error) {
	ttl := time.Duration(n.ExpiresIn) * time.Second
	switch {
	case n.ExpiresIn == 0:
		ttl = DefaultInitialAccessTokenTTL
	case n.ExpiresIn < 0 || ttl > MaxInitialAccessTokenTTL:
		return InitialAccessToken{}, provider.ErrInvalidRequest.WithDescription(fmt.Sprintf("expires_in: 1 to %d seconds (0: a day)", int64(MaxInitialAccessTokenTTL/time.Second)))
	}
	if n.MaxUses < 0 {
		return InitialAccessToken{}, provider.ErrInvalidRequest.WithDescription("max_uses: 0 (any number) or more")
	}
	if len(n.Name) > 200 || !storage.ValidText(n.Name) {
		return InitialAccessToken{}, provider.ErrInvalidRequest.WithDescription("name: at most 200 characters of text")
	}
	secret := provider.NewSecret(PrefixInitialAccessToken)
	now := r.admin.now()
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return InitialAccessToken{}, fmt.Errorf("initial access token id: %w", err)
	}
	t := storage.InitialAccessToken{
		ID: "iat_" + hex.EncodeToString(id[:]), Hash: r.admin.provider.HashSecret(secret), Name: n.Name,
		CreatedAt: now, ExpiresAt: now.Add(ttl), MaxUses: n.MaxUses,
	}
	if err := r.store.CreateInitialAccessToken(ctx, t); err != nil {
		return InitialAccessToken{}, fmt.Errorf("create initial access token: %w", err)
	}
	out := initialAccessTokenOf(t)
	out.Token = secret
	return out, nil
}

// ListInitialAccessTokens lists every token, newest first, without secrets.
func (r *Registrar) ListInitialAccessTokens(ctx context.Context) ([]InitialAccessToken, error) {
	list, err := r.store.ListInitialAccessTokens(ctx)
	if err != nil {
		return nil, fmt.Errorf("list initial access tokens: %w", err)
	}
	out := make([]InitialAccessToken, 0, len(list))
	for _, t := range list {
		out = append(out, initialAccessTokenOf(t))
	}
	return out, nil
}

// DeleteInitialAccessToken revokes a token at once.
func (r *Registrar) DeleteInitialAccessToken(ctx context.Context, id string) error {
	err := r.store.DeleteInitialAccessToken(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return ErrInitialAccessTokenNotFound
	}
	if err != nil {
		return fmt.Errorf("delete initial access token: %w", err)
	}
	return nil
}

// PurgeInitialAccessTokens deletes expired and used-up tokens.
func (r *Registrar) PurgeInitialAccessTokens(ctx context.Context) (int, error) {
	return r.store.PurgeInitialAccessTokens(ctx, r.admin.now())
}

func initialAccessTokenOf(t storage.InitialAccessToken) InitialAccessToken {
	return InitialAccessToken{
		ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt.Unix(), ExpiresAt: t.ExpiresAt.Unix(),
		MaxUses: t.MaxUses, Uses: t.Uses,
	}
}
