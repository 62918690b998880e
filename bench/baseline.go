package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// baselineResponse has the shape of latchkey's token response.
type baselineResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

// baselineToken is a fixed JWT-shaped string, so the baseline's body is
// about the size of a latchkey token response (~700 bytes).
var baselineToken = fakeJWT()

func fakeJWT() string {
	enc := base64.RawURLEncoding
	header := `{"alg":"ES256","kid":"bench-0000000000000000","typ":"at+jwt"}`
	claims := `{"aud":"http://127.0.0.1:8080","client_id":"demo","exp":1900000000,"iat":1899999700,` +
		`"iss":"http://127.0.0.1:8080","jti":"0123456789abcdefghijklmnopqrstuvwxyzABCD",` +
		`"nbf":1899999700,"scope":"profile email","sub":"demo","token_use":"access","groups":[],"permissions":[],` +
		`"sid":"0123456789abcdefghijklmnop","auth_time":1899999700}`
	sig := strings.Repeat("s", 64)
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(claims)) + "." + enc.EncodeToString([]byte(sig))
}

// serveBaseline is the re-executed baseline process: a bare Gin engine that
// parses a token request like latchkey's and answers a fixed JSON body. It
// also serves POST /sign: the same request answered with an ES256 JWT
// signed for it, the least work of a server that issues signed tokens.
// With issuer (a latchkey's URL) it also serves POST /verify: the cost of
// verifying the cold-cache introspection's tokens, checking each token's
// signature with the keys of that latchkey's JWKS, fetched once here.
func serveBaseline(ctx context.Context, addr, issuer string) error {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/readyz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.POST("/oauth2/token", baselineHandler)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("sign route: %w", err)
	}
	r.POST("/sign", signHandler(key, "http://"+addr))
	if issuer != "" {
		keys, err := fetchJWKS(ctx, issuer)
		if err != nil {
			return fmt.Errorf("verify route: %w", err)
		}
		r.POST("/verify", verifyHandler(keys))
	}
	srv := &http.Server{
		Addr: addr, Handler: r,
		ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// baselineHandler does the HTTP work every token request needs (content
// type, form, Basic credentials, JSON) and nothing else.
func baselineHandler(c *gin.Context) {
	if _, _, ok := clientForm(c, "grant_type"); !ok {
		return
	}
	_ = c.PostForm("scope")
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.JSON(http.StatusOK, baselineResponse{
		AccessToken: baselineToken, TokenType: "Bearer", ExpiresIn: 300, Scope: "profile email",
	})
}

// clientForm checks what every request of a client to the token endpoint
// family needs: a form body, Basic client credentials and the form field
// required (grant_type, token). It returns the client ID and the field's
// value; when one is missing it answers the error itself and returns ok
// false.
func clientForm(c *gin.Context, required string) (client, value string, ok bool) {
	if c.ContentType() != "application/x-www-form-urlencoded" {
		c.AbortWithStatusJSON(http.StatusUnsupportedMediaType, gin.H{"error": "invalid_request"})
		return "", "", false
	}
	client, secret, ok := c.Request.BasicAuth()
	if !ok || client == "" || secret == "" {
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "invalid_client"})
		return "", "", false
	}
	value = c.PostForm(required)
	if value == "" {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "invalid_request"})
		return "", "", false
	}
	return client, value, true
}

// signedClaims are the claims of a client_credentials access token.
type signedClaims struct {
	Issuer   string `json:"iss"`
	Subject  string `json:"sub"`
	Audience string `json:"aud"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
	JTI      string `json:"jti"`
	IssuedAt int64  `json:"iat"`
	Expires  int64  `json:"exp"`
}

// signedHeader is the signed tokens' protected header, encoded once.
var signedHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"bench-sign","typ":"at+jwt"}`))

// signHandler parses a token request like baselineHandler, then answers
// with a fresh ES256 access token for the client: its claims marshalled
// with encoding/json, a random jti, the signature made with crypto/ecdsa
// (deterministic, RFC 6979, as latchkey signs) and written as R || S. What
// a server that signs every token it issues can reach at best.
func signHandler(key *ecdsa.PrivateKey, issuer string) gin.HandlerFunc {
	enc := base64.RawURLEncoding
	return func(c *gin.Context) {
		id, _, ok := clientForm(c, "grant_type")
		if !ok {
			return
		}
		scope := c.PostForm("scope")
		now := time.Now().Unix()
		payload, err := json.Marshal(signedClaims{
			Issuer: issuer, Subject: id, Audience: issuer, ClientID: id, Scope: scope,
			JTI: randomString(16), IssuedAt: now, Expires: now + 300,
		})
		if err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		input := signedHeader + "." + enc.EncodeToString(payload)
		digest := sha256.Sum256([]byte(input))
		der, err := key.Sign(nil, digest[:], crypto.SHA256)
		if err != nil {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		sig, ok := rawSignature(der)
		if !ok {
			c.AbortWithStatus(http.StatusInternalServerError)
			return
		}
		c.Header("Cache-Control", "no-store")
		c.Header("Pragma", "no-cache")
		c.JSON(http.StatusOK, baselineResponse{
			AccessToken: input + "." + enc.EncodeToString(sig), TokenType: "Bearer", ExpiresIn: 300, Scope: scope,
		})
	}
}

// rawSignature turns an ASN.1 P-256 ECDSA signature into R || S, 32 bytes
// each (RFC 7518 §3.4).
func rawSignature(der []byte) ([]byte, bool) {
	in := cryptobyte.String(der)
	var seq, r, s cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1(&r, cbasn1.INTEGER) || !seq.ReadASN1(&s, cbasn1.INTEGER) || !seq.Empty() {
		return nil, false
	}
	sig := make([]byte, 64)
	for i, n := range []cryptobyte.String{r, s} {
		n = bytes.TrimLeft(n, "\x00")
		if len(n) > 32 {
			return nil, false
		}
		copy(sig[32*(i+1)-len(n):], n)
	}
	return sig, true
}

// verifyBody is the verify route's fixed answer, the start of an active
// introspection response.
var verifyBody = []byte(`{"active":true}`)

// verifyHandler parses an introspection request like baselineHandler
// parses a token request, then only verifies the token: a compact ES256
// JWS whose signature must check with a key of keys (by kid), and whose
// exp must not have passed. It answers a fixed {"active":true}: what a
// server that verifies every new token's signature can reach at best.
// latchkey recognises its current key's tokens by re-signing them (a third
// of a verification), so its cold-cache introspection may exceed it.
func verifyHandler(keys jose.JSONWebKeySet) gin.HandlerFunc {
	algs := []jose.SignatureAlgorithm{jose.ES256}
	return func(c *gin.Context) {
		_, tok, ok := clientForm(c, "token")
		if !ok {
			return
		}
		jws, err := jose.ParseSignedCompact(tok, algs)
		if err != nil || len(jws.Signatures) != 1 {
			c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "invalid_token"})
			return
		}
		var payload []byte
		for _, k := range keys.Key(jws.Signatures[0].Protected.KeyID) {
			if payload, err = jws.Verify(k.Key); err == nil {
				break
			}
		}
		if payload == nil {
			c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "invalid_token"})
			return
		}
		var claims struct {
			Exp int64 `json:"exp"`
		}
		c.Header("Cache-Control", "no-store")
		if json.Unmarshal(payload, &claims) != nil || claims.Exp <= time.Now().Unix() {
			c.Data(http.StatusOK, "application/json; charset=utf-8", []byte(`{"active":false}`))
			return
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", verifyBody)
	}
}

// fetchJWKS reads the key set of the OpenID provider at issuer, through
// its discovery document's jwks_uri.
func fetchJWKS(ctx context.Context, issuer string) (jose.JSONWebKeySet, error) {
	var disc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration", &disc); err != nil {
		return set, fmt.Errorf("discovery of %s: %w", issuer, err)
	}
	if disc.JWKSURI == "" {
		return set, fmt.Errorf("discovery of %s: no jwks_uri", issuer)
	}
	if err := getJSON(ctx, disc.JWKSURI, &set); err != nil {
		return set, fmt.Errorf("JWKS of %s: %w", issuer, err)
	}
	if len(set.Keys) == 0 {
		return set, fmt.Errorf("JWKS of %s (%s) holds no key", issuer, disc.JWKSURI)
	}
	return set, nil
}
