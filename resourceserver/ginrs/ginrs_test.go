package ginrs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/latchkey-auth/latchkey/resourceserver"
	"github.com/latchkey-auth/latchkey/resourceserver/ginrs"
)

// TestGin: the adapter refuses as the net/http middleware does and hands
// the handler the principal. An issuer that publishes no key is enough:
// the requests here carry no token or a bad one.
func TestGin(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks"})
		case "/jwks":
			_, _ = w.Write([]byte(`{"keys":[]}`))
		}
	}))
	defer srv.Close()
	v, err := resourceserver.New(context.Background(), resourceserver.Config{Issuer: srv.URL, Audience: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	r := gin.New()
	anonymous := false
	r.GET("/open", ginrs.Require(v, resourceserver.AllowAny), func(c *gin.Context) {
		_, ok := ginrs.Principal(c)
		anonymous = !ok
		c.String(200, "ok")
	})
	r.GET("/closed", ginrs.Require(v, resourceserver.IsAuthenticated), func(c *gin.Context) { c.String(200, "reached") })
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
