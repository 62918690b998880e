package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
)

// signES256 signs header.payload with a key that is not ours.
func signES256(t *testing.T, priv *ecdsa.PrivateKey, header map[string]any, payload string) string {
	t.Helper()
	input := b64JSON(t, header) + "." + payload
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func signHMAC(t *testing.T, key []byte, header map[string]any, payload string) string {
	t.Helper()
	input := b64JSON(t, header) + "." + payload
	h := sha256.New
	if header["alg"] == "HS512" {
		h = sha512.New
	}
	mac := hmac.New(h, key)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestIntrospectionRejectsForgedTokens(t *testing.T) {
	ts := startServer(t, nil)
	tok := ts.passwordToken(adminUser, adminPass, "openid", "profile")
	genuine := tok.AccessToken
	if active, _ := ts.introspectActive(genuine); !active {
		t.Fatal("the genuine token is not active")
	}
	header, claims, _ := jwtParts(t, genuine)
	kid := header["kid"].(string)
	parts := strings.Split(genuine, ".")

	jwksBody := ts.get("/oauth2/jwks", "").Body
	set := ts.jwks()
	ours := set.Key(kid)
	if len(ours) != 1 {
		t.Fatalf("kid %s not in the JWKS", kid)
	}
	jwkJSON, err := ours[0].MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(ours[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	// The genuine claims with more power.
	escalated := maps.Clone(claims)
	escalated["scope"] = "openid profile admin"
	escalated["exp"] = claims["exp"].(float64) + 3600*24*365
	payload := b64JSON(t, claims)
	escalatedPayload := b64JSON(t, escalated)

	foreign, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	foreignJWK, err := (&jose.JSONWebKey{Key: foreign.Public(), Algorithm: "ES256", Use: "sig", KeyID: kid}).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	atHeader := func(alg string) map[string]any { return map[string]any{"alg": alg, "typ": "at+jwt", "kid": kid} }
	noneToken := func(alg string) string {
		return b64JSON(t, atHeader(alg)) + "." + escalatedPayload + "."
	}
	swappedHeader := map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid, "x": "y"}
	flipped := []byte(parts[2])
	flipped[len(flipped)/2] = map[bool]byte{true: 'B', false: 'A'}[flipped[len(flipped)/2] == 'A'] // still base64url

	for _, tc := range []struct {
		name, token string
		// verifyWith, when set, is the key the forgery really is signed
		// with: a verifier that trusted the token's header would accept it.
		verifyWith any
	}{
		{"alg none", noneToken("none"), nil},
		{"alg None", noneToken("None"), nil},
		{"alg none with the genuine signature", noneToken("none") + parts[2], nil},
		{"HS256 keyed with our public JWK", signHMAC(t, jwkJSON, atHeader("HS256"), escalatedPayload), jwkJSON},
		{"HS256 keyed with the JWKS document", signHMAC(t, jwksBody, atHeader("HS256"), escalatedPayload), jwksBody},
		{"HS256 keyed with our PEM public key", signHMAC(t, pemKey, atHeader("HS256"), escalatedPayload), pemKey},
		{"HS256 keyed with our DER public key", signHMAC(t, der, atHeader("HS256"), escalatedPayload), der},
		{"HS512 keyed with our public JWK", signHMAC(t, jwkJSON, atHeader("HS512"), escalatedPayload), jwkJSON},
		{"an altered payload with the genuine signature", parts[0] + "." + escalatedPayload + "." + parts[2], nil},
		{"an altered header with the genuine signature", b64JSON(t, swappedHeader) + "." + parts[1] + "." + parts[2], nil},
		{"a foreign ES256 key with our kid", signES256(t, foreign, atHeader("ES256"), escalatedPayload), foreign.Public()},
		{"a foreign ES256 key with our kid and its JWK embedded", signES256(t, foreign,
			map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid, "jwk": json.RawMessage(foreignJWK)}, escalatedPayload), foreign.Public()},
		{"a foreign ES256 key with an unknown kid", signES256(t, foreign,
			map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": "not-ours"}, payload), foreign.Public()},
		{"a foreign ES256 key with no kid", signES256(t, foreign, map[string]any{"alg": "ES256", "typ": "at+jwt"}, payload), foreign.Public()},
		{"a foreign ES256 key pointing at a jku", signES256(t, foreign,
			map[string]any{"alg": "ES256", "typ": "at+jwt", "kid": kid, "jku": "https://attacker.example/jwks"}, payload), foreign.Public()},
		{"the genuine token truncated by ten characters", genuine[:len(genuine)-10], nil},
		{"the genuine token cut in half", genuine[:len(genuine)/2], nil},
		{"the genuine token without its signature", parts[0] + "." + parts[1] + ".", nil},
		{"the genuine token with a fourth part", genuine + ".AAAA", nil},
		{"the genuine token with one character of its signature changed", parts[0] + "." + parts[1] + "." + string(flipped), nil},
		{"the genuine token's signature on another token's body", parts[0] + "." + payload + "x." + parts[2], nil},
		{"an ID token", tok.Extra("id_token").(string), ours[0]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.verifyWith != nil {
				jws, err := jose.ParseSignedCompact(tc.token, []jose.SignatureAlgorithm{jose.ES256, jose.HS256, jose.HS512})
				if err != nil {
					t.Fatalf("the forgery does not parse: %v", err)
				}
				if _, err := jws.Verify(tc.verifyWith); err != nil {
					t.Fatalf("the forgery is not validly signed with its own key: %v", err)
				}
			}
			res := ts.introspect(tc.token)
			if res.Status != http.StatusOK || string(res.Body) != `{"active":false}` {
				t.Errorf("introspection: %s, want 200 {\"active\":false}", res)
			}
			if res := ts.get("/admin/clients/", tc.token); res.Status != http.StatusUnauthorized {
				t.Errorf("admin API with it: %s, want 401", res)
			}
			if res := ts.get("/oauth2/userinfo", tc.token); res.Status != http.StatusUnauthorized {
				t.Errorf("userinfo with it: %s, want 401", res)
			}
		})
	}

	if active, _ := ts.introspectActive(genuine); !active {
		t.Error("the genuine token is no longer active")
	}
}

func TestKeyRotationKeepsOldTokensValidUntilTheirKeyExpires(t *testing.T) {
	ts := startServer(t, nil)
	ctx := context.Background()
	adminTok := ts.adminToken()
	old, err := ts.clientToken(demoClient, demoSecret)
	if err != nil {
		t.Fatal(err)
	}
	oldHeader, _ := mustVerifyJWT(t, old.AccessToken, ts.jwks())
	oldKid := oldHeader.KeyID
	rotatedAt := ts.Clock.Now()

	res := ts.adminJSON(http.MethodPost, "/admin/keys/rotate/", adminTok, nil)
	if res.Status != http.StatusCreated {
		t.Fatalf("rotate: %s", res)
	}
	newKid, _ := res.json(t)["kid"].(string)
	if newKid == "" || newKid == oldKid {
		t.Fatalf("rotation answered kid %q (old %q)", newKid, oldKid)
	}

	t.Run("the JWKS publishes both keys", func(t *testing.T) {
		set := ts.jwks()
		got := kids(set)
		if !slices.Contains(got, oldKid) || !slices.Contains(got, newKid) {
			t.Errorf("JWKS kids %v, want %s and %s", got, oldKid, newKid)
		}
		for _, k := range set.Keys {
			if !k.IsPublic() {
				t.Errorf("key %s in the JWKS is not public", k.KeyID)
			}
		}
	})

	t.Run("the old token still verifies and introspects active", func(t *testing.T) {
		mustVerifyJWT(t, old.AccessToken, ts.jwks())
		if active, _ := ts.introspectActive(old.AccessToken); !active {
			t.Error("the token signed by the old key is inactive")
		}
	})

	t.Run("new access and ID tokens carry the new kid", func(t *testing.T) {
		tok := ts.passwordToken(adminUser, adminPass, "openid")
		for name, raw := range map[string]string{"access": tok.AccessToken, "id": tok.Extra("id_token").(string)} {
			h, _ := mustVerifyJWT(t, raw, ts.jwks())
			if h.KeyID != newKid {
				t.Errorf("%s token kid %s, want %s", name, h.KeyID, newKid)
			}
		}
		if active, _ := ts.introspectActive(tok.AccessToken); !active {
			t.Error("a token of the new key is inactive")
		}
	})

	t.Run("the admin key listing shows which key signs", func(t *testing.T) {
		res := ts.get("/admin/keys/", adminTok)
		if res.Status != http.StatusOK {
			t.Fatalf("%s", res)
		}
		var list struct {
			Count   int `json:"count"`
			Results []struct {
				Kid     string `json:"kid"`
				Signing bool   `json:"signing"`
			} `json:"results"`
		}
		if err := json.Unmarshal(res.Body, &list); err != nil {
			t.Fatal(err)
		}
		signing := map[string]bool{}
		for _, k := range list.Results {
			signing[k.Kid] = k.Signing
		}
		if list.Count != 2 || !signing[newKid] || signing[oldKid] {
			t.Errorf("key list %s", res.Body)
		}
	})

	t.Run("the old key stays while its tokens can be valid", func(t *testing.T) {
		ts.Clock.Advance(accessTTL - time.Second)
		if err := ts.srv.Provider().Keys().Load(ctx); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(kids(ts.jwks()), oldKid) {
			t.Error("the old key left the JWKS while a token it signed is still valid")
		}
		if active, _ := ts.introspectActive(old.AccessToken); !active {
			t.Error("the old token is inactive before its exp")
		}
	})

	t.Run("the old key leaves the JWKS once every token it signed has expired", func(t *testing.T) {
		// Every token the old key signed expires within the longest token
		// lifetime; the key cache adds its TTL on top.
		target := rotatedAt.Add(maxClientTTL + keyCacheTTL + time.Minute)
		ts.Clock.Advance(target.Sub(ts.Clock.Now()))
		if err := ts.srv.Provider().Keys().Load(ctx); err != nil {
			t.Fatal(err)
		}
		got := kids(ts.jwks())
		if slices.Contains(got, oldKid) {
			t.Errorf("the old key %s is still published a day after rotation: %v", oldKid, got)
		}
		if !slices.Contains(got, newKid) {
			t.Errorf("the signing key %s is not published: %v", newKid, got)
		}
		tok, err := ts.clientToken(demoClient, demoSecret)
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := mustVerifyJWT(t, tok.AccessToken, ts.jwks()); h.KeyID != newKid {
			t.Errorf("kid %s, want %s", h.KeyID, newKid)
		}
	})

	t.Run("rotating through the provider works the same way", func(t *testing.T) {
		info, err := ts.srv.Provider().Keys().Rotate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := ts.clientToken(demoClient, demoSecret)
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := mustVerifyJWT(t, tok.AccessToken, ts.jwks()); h.KeyID != info.ID {
			t.Errorf("kid %s, want %s", h.KeyID, info.ID)
		}
	})

	t.Run("a non-staff user cannot rotate keys", func(t *testing.T) {
		ts.createUser("keyless", "keyless-pass-1", false)
		tok := ts.passwordToken("keyless", "keyless-pass-1", "openid").AccessToken
		if res := ts.adminJSON(http.MethodPost, "/admin/keys/rotate/", tok, nil); res.Status != http.StatusForbidden {
			t.Errorf("%s, want 403", res)
		}
		if res := ts.adminJSON(http.MethodPost, "/admin/keys/rotate/", "", nil); res.Status != http.StatusUnauthorized {
			t.Errorf("without a token: %s, want 401", res)
		}
	})
}

func TestDiscoveryDocumentsDescribeEndpointsThatWork(t *testing.T) {
	ts := startServer(t, nil)
	var docs [][]byte
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		t.Run(path, func(t *testing.T) {
			res := ts.get(path, "")
			if res.Status != http.StatusOK {
				t.Fatalf("%s", res)
			}
			docs = append(docs, res.Body)
			var d struct {
				Issuer                string   `json:"issuer"`
				TokenEndpoint         string   `json:"token_endpoint"`
				JWKSURI               string   `json:"jwks_uri"`
				IntrospectionEndpoint string   `json:"introspection_endpoint"`
				RevocationEndpoint    string   `json:"revocation_endpoint"`
				UserinfoEndpoint      string   `json:"userinfo_endpoint"`
				GrantTypes            []string `json:"grant_types_supported"`
				SigningAlgs           []string `json:"id_token_signing_alg_values_supported"`
				AuthMethods           []string `json:"token_endpoint_auth_methods_supported"`
			}
			if err := json.Unmarshal(res.Body, &d); err != nil {
				t.Fatal(err)
			}
			if d.Issuer != ts.URL {
				t.Errorf("issuer %q, want %q", d.Issuer, ts.URL)
			}
			for _, g := range []string{"password", "refresh_token", "client_credentials"} {
				if !slices.Contains(d.GrantTypes, g) {
					t.Errorf("grant_types_supported %v lacks %s", d.GrantTypes, g)
				}
			}
			if !slices.Contains(d.SigningAlgs, "ES256") {
				t.Errorf("id_token_signing_alg_values_supported %v", d.SigningAlgs)
			}
			for _, m := range []string{"client_secret_basic", "client_secret_post"} {
				if !slices.Contains(d.AuthMethods, m) {
					t.Errorf("token_endpoint_auth_methods_supported %v lacks %s", d.AuthMethods, m)
				}
			}

			// Every endpoint it names answers.
			for _, u := range []string{d.TokenEndpoint, d.JWKSURI, d.IntrospectionEndpoint, d.RevocationEndpoint, d.UserinfoEndpoint} {
				if !strings.HasPrefix(u, ts.URL+"/") {
					t.Errorf("endpoint %q is not under the issuer", u)
				}
			}
			path := func(u string) string { return strings.TrimPrefix(u, ts.URL) }
			tokRes := ts.postForm(path(d.TokenEndpoint), url.Values{
				"grant_type": {"password"}, "username": {adminUser}, "password": {adminPass}, "scope": {"openid email"},
			}, demoClient, demoSecret)
			if tokRes.Status != http.StatusOK {
				t.Fatalf("token endpoint: %s", tokRes)
			}
			access := tokRes.json(t)["access_token"].(string)
			mustVerifyJWT(t, access, ts.jwks())
			if res := ts.get(path(d.JWKSURI), ""); res.Status != http.StatusOK {
				t.Errorf("jwks_uri: %s", res)
			}
			if res := ts.postForm(path(d.IntrospectionEndpoint), url.Values{"token": {access}}, demoClient, demoSecret); res.Status != http.StatusOK || res.json(t)["active"] != true {
				t.Errorf("introspection_endpoint: %s", res)
			}
			if res := ts.get(path(d.UserinfoEndpoint), access); res.Status != http.StatusOK {
				t.Errorf("userinfo_endpoint: %s", res)
			}
			if res := ts.postForm(path(d.RevocationEndpoint), url.Values{"token": {access}}, demoClient, demoSecret); res.Status != http.StatusOK {
				t.Errorf("revocation_endpoint: %s", res)
			}
			if active, _ := ts.introspectActive(access); active {
				t.Error("the revocation endpoint did not revoke")
			}
		})
	}
	if len(docs) == 2 && string(docs[0]) != string(docs[1]) {
		t.Errorf("the two metadata documents differ:\n%s\n%s", docs[0], docs[1])
	}

	t.Run("go-oidc accepts the provider and calls its userinfo", func(t *testing.T) {
		ctx := oidc.ClientContext(ts.ctx(), ts.client)
		op, err := oidc.NewProvider(ctx, ts.URL)
		if err != nil {
			t.Fatalf("NewProvider: %v", err)
		}
		if op.Endpoint().TokenURL != ts.URL+"/oauth2/token" {
			t.Errorf("token URL %q", op.Endpoint().TokenURL)
		}
		tok := ts.passwordToken(adminUser, adminPass, "openid", "email")
		info, err := op.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatalf("userinfo through go-oidc: %v", err)
		}
		if info.Subject != itoa(ts.user(adminUser).ID) || info.Email != adminEmail {
			t.Errorf("userinfo sub=%q email=%q", info.Subject, info.Email)
		}
	})
}

func TestARestartLosesNothing(t *testing.T) {
	clock := newTestClock()
	dir := t.TempDir()
	first := startServerAt(t, "127.0.0.1:0", dir, clock, nil)
	if !strings.Contains(first.Out.String(), demoClient) {
		t.Errorf("the first start printed no bootstrap banner: %q", first.Out.String())
	}
	if strings.Contains(first.Out.String(), demoSecret) || strings.Contains(first.Out.String(), adminPass) {
		t.Errorf("the banner prints a secret that came from the environment: %q", first.Out.String())
	}
	tok := first.passwordToken(adminUser, adminPass, "openid", "profile")
	revoked := first.passwordToken(adminUser, adminPass, "openid")
	first.revoke(revoked.AccessToken, demoClient, demoSecret)
	ended := first.passwordToken(adminUser, adminPass, "openid")
	first.revoke(ended.RefreshToken, demoClient, demoSecret)
	machine := first.createClient(first.adminToken(), map[string]any{
		"client_name": "machine", "grant_types": []string{"client_credentials"},
	})
	kidsBefore := kids(first.jwks())
	addr := first.Addr
	first.Stop()

	second := startServerAt(t, addr, dir, clock, nil)
	if second.URL != first.URL {
		t.Fatalf("the issuer changed from %s to %s", first.URL, second.URL)
	}
	if out := second.Out.String(); out != "" {
		t.Errorf("the restart bootstrapped again: %q", out)
	}
	if n, err := second.srv.Store().CountUsers(context.Background()); err != nil || n != 1 {
		t.Errorf("%d users (%v), want 1", n, err)
	}
	if got := kids(second.jwks()); !slices.Equal(got, kidsBefore) {
		t.Errorf("JWKS kids %v, want %v", got, kidsBefore)
	}
	mustVerifyJWT(t, tok.AccessToken, second.jwks())
	if active, _ := second.introspectActive(tok.AccessToken); !active {
		t.Error("an access token from before the restart is inactive")
	}
	if active, _ := second.introspectActive(revoked.AccessToken); active {
		t.Error("an access token revoked before the restart is active again")
	}
	if active, _ := second.introspectActive(ended.AccessToken); active {
		t.Error("a session revoked before the restart is active again")
	}
	next, err := second.refresh(tok.RefreshToken)
	if err != nil {
		t.Fatalf("the refresh token from before the restart: %v", err)
	}
	if next.RefreshToken == tok.RefreshToken {
		t.Error("no rotation after the restart")
	}
	if _, err := second.clientToken(machine["client_id"].(string), machine["client_secret"].(string)); err != nil {
		t.Errorf("a client created before the restart: %v", err)
	}
	if _, err := second.clientToken(demoClient, demoSecret); err != nil {
		t.Errorf("the demo client: %v", err)
	}
}

func TestHealthReadinessAndMetricsEndpointsAnswer(t *testing.T) {
	ts := startServer(t, nil)
	for _, path := range []string{"/healthz", "/readyz"} {
		if res := ts.get(path, ""); res.Status != http.StatusOK {
			t.Errorf("%s: %s", path, res)
		}
	}
	cc, err := ts.clientToken(demoClient, demoSecret)
	if err != nil {
		t.Fatal(err)
	}
	ts.passwordToken(adminUser, adminPass, "openid")
	ts.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {adminUser}, "password": {"wrong"}}, demoClient, demoSecret)

	res := ts.get("/metrics", "")
	if res.Status != http.StatusOK {
		t.Fatalf("/metrics: %s", res)
	}
	body := string(res.Body)
	for _, want := range []string{
		`latchkey_tokens_issued_total{grant="client_credentials"} 1`,
		`latchkey_tokens_issued_total{grant="password"} 1`,
		`latchkey_logins_failed_total{backend="local"} 1`,
		`latchkey_http_requests_total{method="POST",route="/oauth2/token",status="200"} 2`,
		`latchkey_http_request_duration_seconds_bucket{method="POST",route="/oauth2/token"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for _, secret := range []string{demoSecret, adminPass, cc.AccessToken} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics contains a secret")
		}
	}
}
