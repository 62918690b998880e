package provider

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/storage"
)

// verifyAlgorithms are the only algorithms a token of ours may carry: never
// "none", never an HMAC algorithm.
var verifyAlgorithms = []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA}

// keyStore is what the key ring needs from storage.
type keyStore interface {
	ListKeys(ctx context.Context) ([]storage.SigningKey, error)
	RotateKey(ctx context.Context, next storage.SigningKey, now, keepUntil, onlyIfOlderThan time.Time) (bool, error)
	DeleteExpiredKeys(ctx context.Context, now time.Time) (int, error)
}

// KeyInfo describes a signing key for listings.
type KeyInfo struct {
	ID        string    `json:"kid"`
	Algorithm string    `json:"alg"`
	CreatedAt time.Time `json:"created_at"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Signing   bool      `json:"signing"`
}

// keySnapshot is an immutable view of the key set; the ring swaps whole
// snapshots so the hot path never takes a lock.
type keySnapshot struct {
	kid      string
	alg      jose.SignatureAlgorithm
	atSigner *compactSigner // typ at+jwt (RFC 9068)
	idSigner *compactSigner // typ JWT, for ID tokens
	public   map[string]jose.JSONWebKey
	jwks     []byte
	infos    []KeyInfo
	loadedAt time.Time
}

// KeyRing keeps the signing keys: it creates the first one, rotates them,
// caches them for a short time and publishes the JWKS.
type KeyRing struct {
	store     keyStore
	secrets   *Secrets
	alg       string
	ttl       time.Duration // cache lifetime of a snapshot
	period    time.Duration // automatic rotation; 0 = manual only
	keepAfter time.Duration // how long a retired key still verifies
	now       func() time.Time
	log       *slog.Logger
	audit     Auditor

	// verified caches the claims of access tokens whose signature verified.
	verified *verifiedCache
	// gate orders the signatures and verifications (see cryptoGate).
	gate cryptoGate

	snap       atomic.Pointer[keySnapshot]
	mu         sync.Mutex // serialises reloads
	lastForced atomic.Int64
}

// KeyRingOptions configures a KeyRing.
type KeyRingOptions struct {
	Algorithm      string
	CacheTTL       time.Duration
	RotationPeriod time.Duration
	// MaxTokenTTL is the longest lifetime of any token signed; a retired key
	// stays published that long (plus the cache TTL).
	MaxTokenTTL time.Duration
	// VerifiedCacheSize bounds the verified-token cache (access tokens
	// whose signature verified, kept until their exp); 0 turns it off.
	VerifiedCacheSize int
}

// NewKeyRing returns a ring over the store. Call Load before use.
func NewKeyRing(store keyStore, secrets *Secrets, opts KeyRingOptions, now func() time.Time, log *slog.Logger) *KeyRing {
	if opts.Algorithm == "" {
		opts.Algorithm = "ES256"
	}
	return &KeyRing{
		store: store, secrets: secrets, alg: opts.Algorithm,
		ttl: opts.CacheTTL, period: opts.RotationPeriod,
		keepAfter: opts.MaxTokenTTL + opts.CacheTTL,
		now:       now, log: log, audit: nopAuditor{},
		verified: newVerifiedCache(opts.VerifiedCacheSize),
		gate:     newCryptoGate(),
	}
}

// DefaultVerifiedCacheSize is the default size of the verified-token
// cache (tokens.verified_cache_size): about 300 bytes a token.
const DefaultVerifiedCacheSize = 20000

// Load reads the keys, creating the first one if there is none, and
// rotating if the automatic rotation period has passed.
func (k *KeyRing) Load(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reload(ctx)
}

// Rotate makes a new signing key now. The old key keeps verifying until
// every token it signed has expired.
func (k *KeyRing) Rotate(ctx context.Context) (KeyInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	next, err := k.newKey()
	if err != nil {
		return KeyInfo{}, err
	}
	now := k.now()
	if _, err := k.store.RotateKey(ctx, next, now, now.Add(k.keepAfter), time.Time{}); err != nil {
		return KeyInfo{}, fmt.Errorf("rotate key: %w", err)
	}
	k.audit.Record(ctx, audit.Event{Type: audit.TypeKeyRotated, Detail: map[string]string{
		"kid": next.ID, "alg": next.Algorithm, "reason": "manual",
	}})
	if err := k.reload(ctx); err != nil {
		return KeyInfo{}, err
	}
	return KeyInfo{ID: next.ID, Algorithm: next.Algorithm, CreatedAt: next.CreatedAt, Signing: true}, nil
}

// List describes every published key, newest first.
func (k *KeyRing) List(ctx context.Context) ([]KeyInfo, error) {
	s, err := k.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return s.infos, nil
}

// JWKS returns the published key set (RFC 7517) as JSON.
func (k *KeyRing) JWKS(ctx context.Context) ([]byte, error) {
	s, err := k.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	return s.jwks, nil
}

// snapshot returns the current view, reloading it when it is older than the
// cache TTL. While one goroutine reloads, the others use the stale view; if
// the store is down, the stale view keeps serving.
func (k *KeyRing) snapshot(ctx context.Context) (*keySnapshot, error) {
	s := k.snap.Load()
	if s != nil && k.now().Sub(s.loadedAt) < k.ttl {
		return s, nil
	}
	if s != nil {
		if !k.mu.TryLock() {
			return s, nil
		}
		defer k.mu.Unlock()
		if err := k.reload(ctx); err != nil {
			k.log.WarnContext(ctx, "key reload failed; using cached keys", "err", err)
		}
		return k.snap.Load(), nil
	}
	if err := k.Load(ctx); err != nil {
		return nil, err
	}
	return k.snap.Load(), nil
}

// publicKey finds a verification key by kid. An unknown kid triggers one
// reload (at most once a second), so a key rotated on another instance
// verifies here at once.
func (k *KeyRing) publicKey(ctx context.Context, kid string) (jose.JSONWebKey, bool) {
	s, err := k.snapshot(ctx)
	if err != nil {
		return jose.JSONWebKey{}, false
	}
	if key, ok := s.public[kid]; ok {
		return key, true
	}
	now := k.now().UnixNano()
	last := k.lastForced.Load()
	if now-last < int64(time.Second) || !k.lastForced.CompareAndSwap(last, now) {
		return jose.JSONWebKey{}, false
	}
	if err := k.Load(ctx); err != nil {
		return jose.JSONWebKey{}, false
	}
	key, ok := k.snap.Load().public[kid]
	return key, ok
}

// reload builds a fresh snapshot; k.mu is held.
func (k *KeyRing) reload(ctx context.Context) error {
	keys, err := k.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	rotated, err := k.rotateIfDue(ctx, keys)
	if err != nil {
		return err
	}
	if rotated {
		if keys, err = k.store.ListKeys(ctx); err != nil {
			return fmt.Errorf("list keys: %w", err)
		}
	}
	s, err := k.build(keys)
	if err != nil {
		return err
	}
	k.snap.Store(s)
	return nil
}

// rotateIfDue creates the first key, or a new one when the rotation period
// has passed. The store's conditional rotation makes sure only one of many
// instances rotates.
func (k *KeyRing) rotateIfDue(ctx context.Context, keys []storage.SigningKey) (bool, error) {
	now := k.now()
	signing := newestSigning(keys)
	var cutoff time.Time
	switch {
	case signing == nil:
		cutoff = time.Unix(1, 0) // any signing key at all means another instance made it
	case k.period > 0 && now.Sub(signing.CreatedAt) >= k.period:
		cutoff = now.Add(-k.period)
	default:
		if n, err := k.store.DeleteExpiredKeys(ctx, now); err == nil && n > 0 {
			k.log.InfoContext(ctx, "deleted expired signing keys", "count", n)
		}
		return false, nil
	}
	next, err := k.newKey()
	if err != nil {
		return false, err
	}
	ok, err := k.store.RotateKey(ctx, next, now, now.Add(k.keepAfter), cutoff)
	if err != nil {
		return false, fmt.Errorf("rotate key: %w", err)
	}
	if ok {
		k.log.InfoContext(ctx, "signing key created", "kid", next.ID, "alg", next.Algorithm)
		reason := "scheduled"
		if signing == nil {
			reason = "first"
		}
		k.audit.Record(ctx, audit.Event{Type: audit.TypeKeyRotated, Detail: map[string]string{
			"kid": next.ID, "alg": next.Algorithm, "reason": reason,
		}})
	}
	return true, nil
}

func newestSigning(keys []storage.SigningKey) *storage.SigningKey {
	var best *storage.SigningKey
	for i := range keys {
		if keys[i].RetiredAt.IsZero() && (best == nil || keys[i].CreatedAt.After(best.CreatedAt)) {
			best = &keys[i]
		}
	}
	return best
}

// build decrypts the signing key and collects the public keys still valid.
func (k *KeyRing) build(keys []storage.SigningKey) (*keySnapshot, error) {
	now := k.now()
	s := &keySnapshot{public: make(map[string]jose.JSONWebKey), loadedAt: now}
	var published []jose.JSONWebKey
	signing := newestSigning(keys)
	if signing == nil {
		return nil, errors.New("no signing key")
	}
	for i := len(keys) - 1; i >= 0; i-- {
		sk := keys[i]
		if !sk.ExpiresAt.IsZero() && !now.Before(sk.ExpiresAt) {
			continue
		}
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(sk.PublicKey); err != nil {
			return nil, fmt.Errorf("key %s: public key: %w", sk.ID, err)
		}
		s.public[sk.ID] = jwk
		published = append(published, jwk)
		s.infos = append(s.infos, KeyInfo{
			ID: sk.ID, Algorithm: sk.Algorithm, CreatedAt: sk.CreatedAt,
			RetiredAt: sk.RetiredAt, ExpiresAt: sk.ExpiresAt, Signing: sk.ID == signing.ID,
		})
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: published})
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	s.jwks = jwks
	if err := k.setSigner(s, *signing); err != nil {
		return nil, err
	}
	return s, nil
}

func (k *KeyRing) setSigner(s *keySnapshot, sk storage.SigningKey) error {
	der, err := k.secrets.Open(sk.PrivateKey, sk.ID)
	if err != nil {
		return fmt.Errorf("key %s: %w", sk.ID, err)
	}
	priv, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return fmt.Errorf("key %s: private key: %w", sk.ID, err)
	}
	alg := jose.SignatureAlgorithm(sk.Algorithm)
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return fmt.Errorf("key %s: private key of type %T cannot sign", sk.ID, priv)
	}
	if s.atSigner, err = newCompactSigner(sk.Algorithm, sk.ID, "at+jwt", signer); err != nil {
		return fmt.Errorf("key %s: signer: %w", sk.ID, err)
	}
	if s.idSigner, err = newCompactSigner(sk.Algorithm, sk.ID, "JWT", signer); err != nil {
		return fmt.Errorf("key %s: signer: %w", sk.ID, err)
	}
	s.atSigner.gate, s.idSigner.gate = k.gate, k.gate
	s.kid, s.alg = sk.ID, alg
	return nil
}

// newKey generates a key of the configured algorithm, sealed for storage.
func (k *KeyRing) newKey() (storage.SigningKey, error) {
	priv, pub, err := generateKey(k.alg)
	if err != nil {
		return storage.SigningKey{}, err
	}
	jwk := jose.JSONWebKey{Key: pub, Algorithm: k.alg, Use: "sig"}
	thumb, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("key thumbprint: %w", err)
	}
	jwk.KeyID = base64.RawURLEncoding.EncodeToString(thumb)
	pubJSON, err := jwk.MarshalJSON()
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return storage.SigningKey{}, fmt.Errorf("private key: %w", err)
	}
	return storage.SigningKey{
		ID: jwk.KeyID, Algorithm: k.alg,
		PrivateKey: k.secrets.Seal(der, jwk.KeyID), PublicKey: pubJSON,
		CreatedAt: k.now(),
	}, nil
}

func generateKey(alg string) (crypto.Signer, crypto.PublicKey, error) {
	switch alg {
	case "ES256", "":
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		return priv, priv.Public(), nil
	case "RS256":
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		return priv, priv.Public(), nil
	case "EdDSA":
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		return priv, pub, nil
	}
	return nil, nil, fmt.Errorf("unsupported signing algorithm %q", alg)
}
