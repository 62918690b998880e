package ginrs_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/latchkey-auth/latchkey/resourceserver"
	"github.com/latchkey-auth/latchkey/resourceserver/ginrs"
)

// TestGin: the adapter refuses as the net/http middleware does and hands
// the handler the principal.
func TestGin(t *testing.T) {
	gin.SetMode(gin.TestMode)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks"})
		case "/jwks":
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256"}}})
		}
	}))
	defer srv.Close()
	v, err := resourceserver.New(context.Background(), resourceserver.Config{Issuer: srv.URL, Audience: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	claims, _ := json.Marshal(map[string]any{"iss": srv.URL, "aud": srv.URL, "sub": "7", "client_id": "web",
		"username": "erin", "exp": time.Now().Add(time.Hour).Unix(), "permissions": []string{"admin"}})
	jws, err := signer.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := jws.CompactSerialize()

	r := gin.New()
	anonymous := false
	r.GET("/open", ginrs.Require(v, resourceserver.AllowAny), func(c *gin.Context) {
		_, ok := ginrs.Principal(c)
		anonymous = !ok
		c.String(200, "ok")
	})
	r.DELETE("/staff", ginrs.Require(v, resourceserver.IsAdminUser), func(c *gin.Context) {
		p, ok := ginrs.Principal(c)
		if !ok || p.Username != "erin" || !ginrs.CheckObject(c, resourceserver.IsLoggedInUserOrAdmin, "someone-else") {
			t.Errorf("principal %+v", p)
		}
		c.Status(204)
	})
	r.GET("/closed", ginrs.Require(v, resourceserver.IsAuthenticated), func(c *gin.Context) { c.String(200, "reached") })
	w := httptest.NewRecorder()
	req := httptest.NewRequest("DELETE", "/staff", nil)
	req.Header.Set("Authorization", "Bearer "+good)
	r.ServeHTTP(w, req)
	if w.Code != 204 {
		t.Fatalf("staff token: %d %s", w.Code, w.Body)
	}
	for _, c := range []struct {
		path, auth string
		status     int
	}{
		{"/open", "", 200},
		{"/closed", "", 401},
		{"/closed", "Bearer a.b.c", 401},
		{"/open", "Bearer a.b.c", 401},
	} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest("GET", c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		r.ServeHTTP(w, req)
		if w.Code != c.status || w.Body.String() == "reached" {
			t.Errorf("%s %q: %d %s, want %d", c.path, c.auth, w.Code, w.Body, c.status)
		}
		if c.status == 401 && w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%s %q: no WWW-Authenticate", c.path, c.auth)
		}
	}
	if !anonymous {
		t.Error("the open route saw a principal")
	}
}
