package provider

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/latchkey-auth/latchkey/storage"
)

// hangUpOnRotate is the real store, except that the client "hangs up" (its
// request's context is canceled) the moment the rotation reaches the store.
type hangUpOnRotate struct {
	storage.Tokens
	hangUp context.CancelFunc
}

func (h *hangUpOnRotate) Rotate(ctx context.Context, ref storage.TokenRef, clientID string, next storage.RefreshToken, rot storage.Rotation) (storage.Family, error) {
	h.hangUp()
	return h.Tokens.Rotate(ctx, ref, clientID, next, rot)
}

// A client that disconnects while its refresh token is being rotated
// cannot leave the session half-rotated or revoked: the rotation runs to
// the end, its successor works, and the family is live.
func TestRefreshRotationFinishesWhenTheClientHangsUp(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	store := openTestStore(t)
	reqCtx, hangUp := context.WithCancel(t.Context())
	defer hangUp()
	tokens := &hangUpOnRotate{Tokens: store, hangUp: hangUp}
	secrets := refreshSecrets(t, 5)
	p := New(Options{
		Issuer: "https://issuer.example", Store: store, Tokens: tokens, Secrets: secrets,
		Lifetimes: Lifetimes{Access: time.Minute, Refresh: time.Hour, RefreshMax: 2 * time.Hour, IDToken: time.Minute},
		Now:       func() time.Time { return now },
	})
	if err := p.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := store.CreateClient(t.Context(), storage.Client{
		ID: "app", SecretHash: secrets.Hash("app-secret"), GrantTypes: []string{GrantRefreshToken},
		TokenEndpointAuthMethod: AuthSecretBasic, Scope: "read write", AccessTokenFormat: "jwt",
		CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	fam := storage.Family{
		ID: "fam-hangup", ClientID: "app", Subject: "app", Scope: "read",
		AuthTime: now, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(2 * time.Hour),
	}
	first := secrets.NewRefreshToken(fam.ID, 0)
	if err := store.CreateFamily(t.Context(), fam, storage.RefreshToken{
		Hash: secrets.Hash(first), CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}

	form := url.Values{"grant_type": {GrantRefreshToken}, "refresh_token": {first}}
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("app", "app-secret")
	resp, err := p.Token(reqCtx, r)
	if reqCtx.Err() == nil {
		t.Fatal("the test did not hang up during the rotation")
	}
	if err != nil {
		t.Fatalf("a rotation interrupted by the client's hang-up failed: %v", err)
	}
	if resp.RefreshToken == "" || resp.AccessToken == "" {
		t.Fatalf("response %+v", resp)
	}

	got, err := store.GetFamily(t.Context(), fam.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.RevokedAt.IsZero() {
		t.Fatal("the family was revoked")
	}
	ref, ok := secrets.ParseRefreshToken(resp.RefreshToken)
	if !ok {
		t.Fatal("the successor does not parse")
	}
	if _, _, err := store.RefreshToken(t.Context(), ref, now); err != nil {
		t.Fatalf("the successor is not stored: %v", err)
	}
	firstRef, _ := secrets.ParseRefreshToken(first)
	if _, _, err := store.RefreshToken(t.Context(), firstRef, now); err == nil {
		t.Fatal("the spent token is still live: half-rotated")
	}
}
