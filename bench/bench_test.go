package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-jose/go-jose/v4"
)

// TestVerifyRoute checks the baseline's verify route against a fake
// issuer: a good token is active, a tampered or unknown-key one refused,
// an expired one inactive.
func TestVerifyRoute(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var issuer *httptest.Server
	issuer = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"jwks_uri": issuer.URL + "/oauth2/jwks"})
		case "/oauth2/jwks":
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
		default:
			http.NotFound(w, r)
		}
	}))
	defer issuer.Close()
	keys, err := fetchJWKS(t.Context(), issuer.URL)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(k *ecdsa.PrivateKey, exp time.Time) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(map[string]any{"sub": "demo", "exp": exp.Unix()})
		obj, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := sign(key, time.Now().Add(time.Minute))
	h := verifyHandler(keys)
	for _, tc := range []struct {
		name, token string
		status      int
		body        string
	}{
		{"good", good, http.StatusOK, `{"active":true}`},
		{"expired", sign(key, time.Now().Add(-time.Minute)), http.StatusOK, `{"active":false}`},
		{"other key", sign(other, time.Now().Add(time.Minute)), http.StatusUnauthorized, "invalid_token"},
		{"tampered", good[:len(good)-2] + "AA", http.StatusUnauthorized, "invalid_token"},
		{"garbage", "not-a-jwt", http.StatusBadRequest, "invalid_token"},
		{"empty", "", http.StatusBadRequest, "invalid_request"},
	} {
		rec := httptest.NewRecorder()
		c, _ := ginTestContext(rec)
		req := httptest.NewRequest(http.MethodPost, "/verify", strings.NewReader(url.Values{"token": {tc.token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", basicAuth("demo", "secret"))
		c.Request = req
		h(c)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("%s: got %d %s, want %d with %s", tc.name, rec.Code, rec.Body, tc.status, tc.body)
		}
	}
}

// TestSignRoute checks the baseline's sign route answers each client
// request with a fresh ES256 token that verifies with its key, and refuses
// a request without client credentials.
func TestSignRoute(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h := signHandler(key, "http://bench.test")
	call := func(auth string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		c, _ := ginTestContext(rec)
		req := httptest.NewRequest(http.MethodPost, "/sign", strings.NewReader(form("grant_type", "client_credentials", "scope", clientScope)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		c.Request = req
		h(c)
		return rec
	}
	seen := map[string]bool{}
	for range 3 {
		rec := call(basicAuth("demo", "secret"))
		var resp baselineResponse
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &resp) != nil {
			t.Fatalf("got %d %s, want 200 with a token response", rec.Code, rec.Body)
		}
		jws, err := jose.ParseSignedCompact(resp.AccessToken, []jose.SignatureAlgorithm{jose.ES256})
		if err != nil {
			t.Fatalf("parse %q: %v", resp.AccessToken, err)
		}
		payload, err := jws.Verify(&key.PublicKey)
		if err != nil {
			t.Fatalf("the token does not verify with the route's key: %v", err)
		}
		var claims signedClaims
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		if claims.Subject != "demo" || claims.ClientID != "demo" || claims.Scope != clientScope ||
			claims.Issuer != "http://bench.test" || claims.Expires-claims.IssuedAt != 300 || claims.JTI == "" {
			t.Errorf("claims %+v", claims)
		}
		if seen[claims.JTI] {
			t.Errorf("jti %s twice", claims.JTI)
		}
		seen[claims.JTI] = true
	}
	if rec := call(""); rec.Code != http.StatusUnauthorized {
		t.Errorf("without client credentials: got %d, want 401", rec.Code)
	}
}

// TestRawSignature checks the DER to R || S conversion pads short
// integers and refuses what is not one SEQUENCE of two INTEGERs.
func TestRawSignature(t *testing.T) {
	der := []byte{0x30, 0x08, 0x02, 0x02, 0x00, 0x80, 0x02, 0x02, 0x01, 0x02}
	sig, ok := rawSignature(der)
	if !ok || len(sig) != 64 || sig[31] != 0x80 || sig[62] != 0x01 || sig[63] != 0x02 || !bytes.Equal(sig[:31], make([]byte, 31)) {
		t.Errorf("rawSignature = %x, %v", sig, ok)
	}
	for _, bad := range [][]byte{nil, {0x30, 0x00}, append(der, 0), {0x30, 0x03, 0x02, 0x01, 0x01}} {
		if _, ok := rawSignature(bad); ok {
			t.Errorf("rawSignature(%x) accepted", bad)
		}
	}
}

// TestReportBaselineTwice checks the ratios use the mean of the two
// baseline runs, the drift line and its warning, the bare-verification line and the
// labels of the p99 comparisons.
func TestReportBaselineTwice(t *testing.T) {
	ms := func(v int) time.Duration { return time.Duration(v) * time.Millisecond }
	r := &report{Results: []result{
		{Scenario: scenarioBaseline, RPS: 50000},
		{Scenario: scenarioClientCredentials, RPS: 18000, P99: ms(30)},
		{Scenario: scenarioSignReference, RPS: 24000},
		{Scenario: scenarioIntrospection, RPS: 30000, P99: ms(5)},
		{Scenario: scenarioIntrospectionCold, RPS: 6000},
		{Scenario: scenarioVerifyReference, RPS: 8000},
		{Scenario: scenarioClientCredentials + prodSuffix, RPS: 10000, P99: ms(40)},
		{Scenario: scenarioIntrospection + prodSuffix, RPS: 20000, P99: ms(10)},
		{Scenario: scenarioBaselineAgain, RPS: 40000},
	}}
	var out bytes.Buffer
	r.print(&out)
	got := out.String()
	for _, want := range []string{
		"baseline: 50,000 req/s at the start, 40,000 at the end (drift 20.0 %); ratios use the mean",
		"WARNING: the baseline moved by more than 10 %",
		"40.0 % of baseline", // client_credentials: 18,000 / 45,000
		"introspection (cache cold) is 75.0 % of the bare ES256 verification (8,000 req/s)",
		"client_credentials is 75.0 % of the bare ES256 signing (24,000 req/s)",
		"client_credentials [pg+redis] is 41.7 % of the bare ES256 signing (24,000 req/s)",
		"client_credentials p99 is 6.0x introspection's (target <= 3x): MISS",
		"client_credentials [pg+redis] p99 is 4.0x introspection's (reported)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	for _, res := range r.Results {
		if (res.Scenario == scenarioVerifyReference || res.Scenario == scenarioSignReference) && (res.Pass != nil || res.RatioPct == 0) {
			t.Errorf("reference row: pass %v, ratio %.1f; want no verdict and a ratio", res.Pass, res.RatioPct)
		}
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 55156: "55,156", 1234567: "1,234,567", -1500: "-1,500"} {
		if got := thousands(v); got != want {
			t.Errorf("thousands(%v) = %q, want %q", v, got, want)
		}
	}
}

func ginTestContext(w http.ResponseWriter) (*gin.Context, *gin.Engine) {
	gin.SetMode(gin.TestMode)
	return gin.CreateTestContext(w)
}
