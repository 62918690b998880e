package main

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
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
// parses a token request like latchkey's and answers a fixed JSON body.
func serveBaseline(ctx context.Context, addr string) error {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/readyz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.POST("/oauth2/token", baselineHandler)
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
	if c.ContentType() != "application/x-www-form-urlencoded" {
		c.AbortWithStatusJSON(http.StatusUnsupportedMediaType, gin.H{"error": "invalid_request"})
		return
	}
	id, secret, ok := c.Request.BasicAuth()
	if !ok || id == "" || secret == "" {
		c.AbortWithStatusJSON(http.StatusUnauthorized, gin.H{"error": "invalid_client"})
		return
	}
	if c.PostForm("grant_type") == "" {
		c.AbortWithStatusJSON(http.StatusBadRequest, gin.H{"error": "invalid_request"})
		return
	}
	_ = c.PostForm("scope")
	c.Header("Cache-Control", "no-store")
	c.Header("Pragma", "no-cache")
	c.JSON(http.StatusOK, baselineResponse{
		AccessToken: baselineToken, TokenType: "Bearer", ExpiresIn: 300, Scope: "profile email",
	})
}
