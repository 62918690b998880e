package server_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/storage"
)

func TestClientCredentialsGrantIssuesAnAtJWTThatVerifiesAgainstThePublishedJWKS(t *testing.T) {
	ts := startServer(t, nil)
	for _, tc := range []struct {
		name  string
		style oauth2.AuthStyle
	}{
		{"with the secret in the Authorization header", oauth2.AuthStyleInHeader},
		{"with the secret in the form body", oauth2.AuthStyleInParams},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := clientcredentials.Config{
				ClientID: demoClient, ClientSecret: demoSecret, Scopes: []string{"profile", "email"},
				TokenURL: ts.URL + "/oauth2/token", AuthStyle: tc.style,
			}
			tok, err := cc.Token(ts.ctx())
			if err != nil {
				t.Fatalf("client_credentials: %v", err)
			}
			if tok.TokenType != "Bearer" {
				t.Errorf("token_type %q, want Bearer", tok.TokenType)
			}
			if tok.RefreshToken != "" {
				t.Errorf("client_credentials returned a refresh token")
			}
			if got := tok.Extra("scope"); got != "profile email" {
				t.Errorf("scope %v, want %q", got, "profile email")
			}
			if got := tok.Extra("expires_in"); got != float64(accessTTL/time.Second) {
				t.Errorf("expires_in %v, want %v", got, accessTTL/time.Second)
			}

			set := ts.jwks()
			h, claims := mustVerifyJWT(t, tok.AccessToken, set)
			if typ := typHeader(h); typ != "at+jwt" {
				t.Errorf("typ %q, want at+jwt", typ)
			}
			if h.KeyID == "" {
				t.Error("no kid in the header")
			}
			if h.Algorithm != "ES256" {
				t.Errorf("alg %q, want ES256 (the default)", h.Algorithm)
			}
			now := ts.Clock.Now().Unix()
			for name, want := range map[string]any{
				"iss": ts.URL, "sub": demoClient, "client_id": demoClient, "scope": "profile email",
			} {
				if claims[name] != want {
					t.Errorf("claim %s = %v, want %v", name, claims[name], want)
				}
			}
			if !audContains(claims["aud"], ts.URL) {
				t.Errorf("aud %v does not hold the issuer %s", claims["aud"], ts.URL)
			}
			if iat := numClaim(t, claims, "iat"); iat != now {
				t.Errorf("iat %d, want %d (the server clock)", iat, now)
			}
			if exp := numClaim(t, claims, "exp"); exp != now+int64(accessTTL/time.Second) {
				t.Errorf("exp %d, want iat+%d", exp, int64(accessTTL/time.Second))
			}
			if jti, _ := claims["jti"].(string); len(jti) < 16 {
				t.Errorf("jti %q is missing or short", jti)
			}
			if _, ok := claims["username"]; ok {
				t.Errorf("a client token carries a username: %v", claims["username"])
			}
			if active, _ := ts.introspectActive(tok.AccessToken); !active {
				t.Error("the fresh token introspects inactive")
			}
		})
	}

	t.Run("and every token has its own jti", func(t *testing.T) {
		seen := map[string]bool{}
		for range 5 {
			tok, err := ts.clientToken(demoClient, demoSecret)
			if err != nil {
				t.Fatal(err)
			}
			_, claims, _ := jwtParts(t, tok.AccessToken)
			jti := claims["jti"].(string)
			if seen[jti] {
				t.Fatalf("jti %s issued twice", jti)
			}
			seen[jti] = true
		}
	})
}

func TestPasswordGrantIssuesAccessRefreshAndAnIDTokenThatGoOIDCVerifies(t *testing.T) {
	ts := startServer(t, nil)
	admin := ts.user(adminUser)
	cfg := ts.passwordConfig("openid", "profile", "email", "offline_access")
	tok, err := cfg.PasswordCredentialsToken(ts.ctx(), adminUser, adminPass)
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	if tok.AccessToken == "" || !strings.HasPrefix(tok.RefreshToken, "lk_rt_") {
		t.Fatalf("want an access token and an lk_rt_ refresh token, got %q / %q", tok.AccessToken, tok.RefreshToken)
	}
	if got := tok.Extra("scope"); got != "openid profile email offline_access" {
		t.Errorf("scope %v", got)
	}
	_, claims := mustVerifyJWT(t, tok.AccessToken, ts.jwks())
	if claims["sub"] != itoa(admin.ID) || claims["username"] != adminUser || claims["client_id"] != demoClient {
		t.Errorf("access token claims sub=%v username=%v client_id=%v", claims["sub"], claims["username"], claims["client_id"])
	}

	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		t.Fatal("no id_token although openid was granted")
	}
	ctx := oidc.ClientContext(ts.ctx(), ts.client)
	op, err := oidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatalf("go-oidc rejects the discovery document: %v", err)
	}
	idt, err := op.Verifier(&oidc.Config{ClientID: demoClient, Now: ts.Clock.Now}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc rejects the ID token: %v", err)
	}
	if idt.Subject != itoa(admin.ID) {
		t.Errorf("ID token sub %q, want %d", idt.Subject, admin.ID)
	}
	var idClaims struct {
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
		EmailVerified     bool   `json:"email_verified"`
		AuthorizedParty   string `json:"azp"`
	}
	if err := idt.Claims(&idClaims); err != nil {
		t.Fatal(err)
	}
	if idClaims.PreferredUsername != adminUser || idClaims.Email != adminEmail || !idClaims.EmailVerified || idClaims.AuthorizedParty != demoClient {
		t.Errorf("ID token claims %+v", idClaims)
	}

	t.Run("without openid there is no id_token", func(t *testing.T) {
		tok := ts.passwordToken(adminUser, adminPass, "profile")
		if id := tok.Extra("id_token"); id != nil {
			t.Errorf("id_token %v without the openid scope", id)
		}
	})

	t.Run("the e-mail address logs in too", func(t *testing.T) {
		tok := ts.passwordToken(adminEmail, adminPass, "profile")
		_, claims, _ := jwtParts(t, tok.AccessToken)
		if claims["sub"] != itoa(admin.ID) {
			t.Errorf("sub %v, want %d", claims["sub"], admin.ID)
		}
	})

	t.Run("the TokenSource refreshes an expired token into a new access and refresh token", func(t *testing.T) {
		ts.Clock.Advance(accessTTL + time.Second)
		if active, _ := ts.introspectActive(tok.AccessToken); active {
			t.Error("the access token is still active after its expiry")
		}
		// x/oauth2 judges expiry by the wall clock: mark the token expired.
		expired := *tok
		expired.Expiry = time.Now().Add(-time.Minute)
		next, err := cfg.TokenSource(ts.ctx(), &expired).Token()
		if err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if next.AccessToken == "" || next.AccessToken == tok.AccessToken {
			t.Error("the refresh did not return a new access token")
		}
		if !strings.HasPrefix(next.RefreshToken, "lk_rt_") || next.RefreshToken == tok.RefreshToken {
			t.Errorf("the refresh did not rotate the refresh token: %q", next.RefreshToken)
		}
		if got := next.Extra("scope"); got != "openid profile email offline_access" {
			t.Errorf("refreshed scope %v", got)
		}
		_, claims := mustVerifyJWT(t, next.AccessToken, ts.jwks())
		if claims["sub"] != itoa(admin.ID) {
			t.Errorf("refreshed sub %v", claims["sub"])
		}
		if iat := numClaim(t, claims, "iat"); iat != ts.Clock.Now().Unix() {
			t.Errorf("refreshed iat %d, want the advanced clock %d", iat, ts.Clock.Now().Unix())
		}
		if active, _ := ts.introspectActive(next.AccessToken); !active {
			t.Error("the refreshed access token is not active")
		}
	})
}

func TestARotatedOutRefreshTokenFailsAndRevokesTheWholeFamily(t *testing.T) {
	ts := startServer(t, nil)
	first := ts.passwordToken(adminUser, adminPass, "openid", "profile")

	// A chain of honest refreshes works, each one rotating.
	chain := []*oauth2.Token{first}
	for i := range 3 {
		next, err := ts.refresh(chain[len(chain)-1].RefreshToken)
		if err != nil {
			t.Fatalf("refresh %d: %v", i+1, err)
		}
		if next.RefreshToken == chain[len(chain)-1].RefreshToken {
			t.Fatalf("refresh %d returned the same refresh token", i+1)
		}
		chain = append(chain, next)
	}
	newest := chain[len(chain)-1]
	if active, _ := ts.introspectActive(newest.AccessToken); !active {
		t.Fatal("the newest access token is not active before the reuse")
	}

	// Reuse of a rotated-out token.
	_, err := ts.refresh(chain[1].RefreshToken)
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)

	_, err = ts.refresh(newest.RefreshToken)
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	for i, tok := range chain {
		if active, _ := ts.introspectActive(tok.AccessToken); active {
			t.Errorf("access token %d of the revoked family is still active", i)
		}
	}
	for i, tok := range chain {
		res := ts.introspect(tok.RefreshToken)
		if string(res.Body) != `{"active":false}` {
			t.Errorf("refresh token %d of the revoked family introspects %s", i, res.Body)
		}
	}

	t.Run("and an unrelated login keeps working", func(t *testing.T) {
		other := ts.passwordToken(adminUser, adminPass, "openid")
		if _, err := ts.refresh(other.RefreshToken); err != nil {
			t.Errorf("an unrelated family was hurt: %v", err)
		}
	})
}

func TestReuseDetectionAlsoHoldsWhenTheReusedTokenComesWithAScope(t *testing.T) {
	ts := startServer(t, nil)
	first := ts.passwordToken(adminUser, adminPass, "openid", "profile")
	second, err := ts.refresh(first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// A replay arrives after the rotation committed (past the commit
	// allowance), so it is not a request that lost a race.
	ts.Clock.Advance(time.Second)
	// The rotated-out token again, this time asking for a narrower scope.
	res := ts.postForm("/oauth2/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "scope": {"openid"},
	}, demoClient, demoSecret)
	wantOAuthError(t, res, http.StatusBadRequest, "invalid_grant")

	_, err = ts.refresh(second.RefreshToken)
	if err == nil {
		t.Error("the newest refresh token still works after its family's rotated-out token was presented again (with a scope parameter)")
	} else {
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	}
	if active, _ := ts.introspectActive(second.AccessToken); active {
		t.Error("the family's access token is still active after the reuse")
	}
}

func TestOfTwentyConcurrentRefreshesWithOneTokenExactlyOneSucceeds(t *testing.T) {
	ts := startServer(t, nil)
	tok := ts.passwordToken(adminUser, adminPass, "openid")
	const n = 20
	if ok, statuses := raceRefresh(t, ts.client, []string{ts.URL}, tok.RefreshToken, n); ok != 1 {
		t.Errorf("%d of %d concurrent refreshes succeeded, want exactly 1 (statuses %v)", ok, n, statuses)
	}
}

func TestIntrospectionReportsLiveTokensAndNothingAboutOthers(t *testing.T) {
	ts := startServer(t, nil)
	admin := ts.user(adminUser)

	t.Run("an active user token reports its claims", func(t *testing.T) {
		tok := ts.passwordToken(adminUser, adminPass, "openid", "profile")
		res := ts.introspect(tok.AccessToken)
		if res.Status != http.StatusOK {
			t.Fatalf("introspect: %s", res)
		}
		wantNoStore(t, res)
		m := res.json(t)
		_, claims, _ := jwtParts(t, tok.AccessToken)
		want := map[string]any{
			"active": true, "scope": "openid profile", "client_id": demoClient, "sub": itoa(admin.ID),
			"username": adminUser, "iss": ts.URL, "token_type": "Bearer",
			"exp": claims["exp"], "iat": claims["iat"], "jti": claims["jti"],
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %v, want %v", k, m[k], v)
			}
		}
		if !audContains(m["aud"], ts.URL) {
			t.Errorf("aud %v", m["aud"])
		}
	})

	t.Run("a client token reports the client as sub and no username", func(t *testing.T) {
		tok, err := ts.clientToken(demoClient, demoSecret, "profile")
		if err != nil {
			t.Fatal(err)
		}
		active, m := ts.introspectActive(tok.AccessToken)
		if !active || m["sub"] != demoClient || m["client_id"] != demoClient || m["scope"] != "profile" {
			t.Errorf("introspection %v", m)
		}
		if _, ok := m["username"]; ok {
			t.Errorf("username %v on a client token", m["username"])
		}
	})

	t.Run("unknown, garbage and empty-looking tokens are exactly inactive", func(t *testing.T) {
		for _, token := range []string{
			"nope", "lk_at_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "lk_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
			"eyJhbGciOiJFUzI1NiJ9.e30.AAAA", "a.b.c", strings.Repeat("x", 8000), strings.Repeat("a.", 2000), " ",
		} {
			res := ts.introspect(token)
			if res.Status != http.StatusOK || string(res.Body) != `{"active":false}` {
				t.Errorf("introspect %.20q: %s, want 200 {\"active\":false}", token, res)
			}
		}
		// A parameter over the 8 KiB limit may be refused as bad input, but never with a 5xx.
		if res := ts.introspect(strings.Repeat("x", 9000)); res.Status >= 500 || res.Status == http.StatusOK && string(res.Body) != `{"active":false}` {
			t.Errorf("introspect a 9000-byte token: %s", res)
		}
	})

	t.Run("a missing token parameter is invalid_request", func(t *testing.T) {
		res := ts.postForm("/oauth2/introspect", url.Values{}, demoClient, demoSecret)
		wantOAuthError(t, res, http.StatusBadRequest, "invalid_request")
	})

	t.Run("an expired token is inactive", func(t *testing.T) {
		tok, err := ts.clientToken(demoClient, demoSecret)
		if err != nil {
			t.Fatal(err)
		}
		clock := ts.Clock
		clock.Advance(accessTTL)
		if active, _ := ts.introspectActive(tok.AccessToken); active {
			t.Error("a token at its exp is still active")
		}
	})

	t.Run("a revoked access token is inactive at once", func(t *testing.T) {
		tok := ts.passwordToken(adminUser, adminPass, "openid")
		other := ts.passwordToken(adminUser, adminPass, "openid")
		ts.revoke(tok.AccessToken, demoClient, demoSecret)
		if active, _ := ts.introspectActive(tok.AccessToken); active {
			t.Error("the revoked access token is still active")
		}
		if active, _ := ts.introspectActive(other.AccessToken); !active {
			t.Error("revoking one access token deactivated another")
		}
		// The refresh token of that grant still works: only the access token was revoked.
		if _, err := ts.refresh(tok.RefreshToken); err != nil {
			t.Errorf("revoking the access token killed its refresh token: %v", err)
		}
	})

	t.Run("revoking the refresh token deactivates the access token of its grant", func(t *testing.T) {
		tok := ts.passwordToken(adminUser, adminPass, "openid")
		ts.revoke(tok.RefreshToken, demoClient, demoSecret)
		if active, _ := ts.introspectActive(tok.AccessToken); active {
			t.Error("the access token is active after its refresh token was revoked")
		}
		_, err := ts.refresh(tok.RefreshToken)
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})

	t.Run("a refresh token introspects only for its own client", func(t *testing.T) {
		tok := ts.passwordToken(adminUser, adminPass, "openid")
		active, m := ts.introspectActive(tok.RefreshToken)
		if !active || m["client_id"] != demoClient || m["token_type"] != "refresh_token" {
			t.Errorf("own refresh token: %v", m)
		}
		other := ts.createClient(ts.adminToken(), map[string]any{
			"client_name": "resource server", "grant_types": []string{"client_credentials"},
		})
		res := ts.postForm("/oauth2/introspect", url.Values{"token": {tok.RefreshToken}},
			other["client_id"].(string), other["client_secret"].(string))
		if string(res.Body) != `{"active":false}` {
			t.Errorf("another client's refresh token: %s", res)
		}
	})

	t.Run("a public client may not introspect", func(t *testing.T) {
		pub := ts.createClient(ts.adminToken(), map[string]any{
			"client_name": "spa", "token_endpoint_auth_method": "none",
			"grant_types": []string{"password", "refresh_token"},
		})
		if _, ok := pub["client_secret"]; ok {
			t.Errorf("a public client got a secret: %v", pub["client_secret"])
		}
		tok, err := ts.clientToken(demoClient, demoSecret)
		if err != nil {
			t.Fatal(err)
		}
		res := ts.postForm("/oauth2/introspect", url.Values{"token": {tok.AccessToken}, "client_id": {pub["client_id"].(string)}}, "", "")
		wantOAuthError(t, res, http.StatusUnauthorized, "invalid_client")
		if got := res.Header.Get("WWW-Authenticate"); got != `Basic realm="latchkey"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
	})

	t.Run("no client authentication is invalid_client", func(t *testing.T) {
		res := ts.postForm("/oauth2/introspect", url.Values{"token": {"x"}}, "", "")
		wantOAuthError(t, res, http.StatusUnauthorized, "invalid_client")
	})
}

func TestBadClientCredentialsAndBadLoginsGiveOneAnswerWhateverWasWrong(t *testing.T) {
	ts := startServer(t, nil)
	form := url.Values{"grant_type": {"client_credentials"}}

	t.Run("wrong secret and unknown client", func(t *testing.T) {
		cases := []struct {
			name       string
			id, secret string
			inBody     bool
		}{
			{"a wrong secret in the header", demoClient, "wrong", false},
			{"an unknown client in the header", "no-such-client", demoSecret, false},
			{"a wrong secret in the body", demoClient, "wrong", true},
			{"an unknown client in the body", "no-such-client", demoSecret, true},
		}
		var first []byte
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var res response
				if tc.inBody {
					f := url.Values{"grant_type": {"client_credentials"}, "client_id": {tc.id}, "client_secret": {tc.secret}}
					res = ts.postForm("/oauth2/token", f, "", "")
				} else {
					res = ts.postForm("/oauth2/token", form, tc.id, tc.secret)
				}
				wantOAuthError(t, res, http.StatusUnauthorized, "invalid_client")
				wantNoStore(t, res)
				if got := res.Header.Get("WWW-Authenticate"); got != `Basic realm="latchkey"` {
					t.Errorf("WWW-Authenticate %q, want Basic realm=\"latchkey\"", got)
				}
				if first == nil {
					first = res.Body
				} else if string(res.Body) != string(first) {
					t.Errorf("body %s differs from %s", res.Body, first)
				}
			})
		}
		_, err := ts.clientToken(demoClient, "wrong")
		wantRetrieveError(t, err, "invalid_client", http.StatusUnauthorized)
	})

	t.Run("wrong password and unknown user", func(t *testing.T) {
		login := func(username, password string) response {
			return ts.postForm("/oauth2/token", url.Values{
				"grant_type": {"password"}, "username": {username}, "password": {password},
			}, demoClient, demoSecret)
		}
		wrong := login(adminUser, "not-the-password")
		unknown := login("nobody-here", "not-the-password")
		unknownMail := login("nobody@example.com", "not-the-password")
		for _, res := range []response{wrong, unknown, unknownMail} {
			wantOAuthError(t, res, http.StatusBadRequest, "invalid_grant")
			wantNoStore(t, res)
		}
		if string(wrong.Body) != string(unknown.Body) || string(wrong.Body) != string(unknownMail.Body) {
			t.Errorf("bodies differ:\nwrong password: %s\nunknown user:   %s\nunknown e-mail: %s", wrong.Body, unknown.Body, unknownMail.Body)
		}
		_, err := ts.passwordConfig().PasswordCredentialsToken(ts.ctx(), adminUser, "nope")
		wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	})
}

func TestTheTokenEndpointAnswersBadRequestsWithRFC6749ErrorsAndChangesNothing(t *testing.T) {
	ts := startServer(t, nil)
	ctx := ts.ctx()
	adminTok := ts.adminToken()
	ccOnly := ts.createClient(adminTok, map[string]any{
		"client_name": "machine", "grant_types": []string{"client_credentials"}, "scope": "read",
	})
	ccID, ccSecret := ccOnly["client_id"].(string), ccOnly["client_secret"].(string)

	usersBefore, err := ts.srv.Store().CountUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	clientsBefore, err := ts.srv.Store().ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a successful token response is not cached", func(t *testing.T) {
		res := ts.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, demoClient, demoSecret)
		if res.Status != http.StatusOK {
			t.Fatalf("%s", res)
		}
		wantNoStore(t, res)
		if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("Content-Type %q", ct)
		}
		m := res.json(t)
		if m["token_type"] != "Bearer" || m["access_token"] == nil || m["expires_in"] == nil {
			t.Errorf("response %v", m)
		}
	})

	big := "grant_type=client_credentials&pad=" + strings.Repeat("a", 65<<10)
	for _, tc := range []struct {
		name        string
		method      string
		contentType string
		body        string
		basic       bool
		status      int
		code        string
	}{
		{"a missing grant_type is invalid_request", "POST", "form", "scope=openid", true, 400, "invalid_request"},
		{"an empty grant_type is invalid_request", "POST", "form", "grant_type=", true, 400, "invalid_request"},
		{"an unknown grant_type is unsupported_grant_type", "POST", "form", "grant_type=magic", true, 400, "unsupported_grant_type"},
		{"the implicit grant is unsupported_grant_type", "POST", "form", "grant_type=implicit", true, 400, "unsupported_grant_type"},
		{"a JSON body is 415", "POST", "application/json", `{"grant_type":"client_credentials"}`, true, 415, "invalid_request"},
		{"a multipart body is 415", "POST", "multipart/form-data; boundary=x", "--x--", true, 415, "invalid_request"},
		{"no content type is 415", "POST", "", "grant_type=client_credentials", true, 415, "invalid_request"},
		{"a body over 64 KiB is 413", "POST", "form", big, true, 413, "invalid_request"},
		{"a repeated parameter is invalid_request", "POST", "form", "grant_type=client_credentials&scope=openid&scope=profile", true, 400, "invalid_request"},
		{"a repeated grant_type is invalid_request", "POST", "form", "grant_type=client_credentials&grant_type=password", true, 400, "invalid_request"},
		{"GET is 405", "GET", "", "", true, 405, "invalid_request"},
		{"PUT is 405", "PUT", "form", "grant_type=client_credentials", true, 405, "invalid_request"},
		{"no client authentication is invalid_client", "POST", "form", "grant_type=client_credentials", false, 401, "invalid_client"},
		{"secrets in both header and body are invalid_request", "POST", "form", "grant_type=client_credentials&client_id=demo&client_secret=demo-secret", true, 400, "invalid_request"},
		{"only scopes the client is not registered for is invalid_scope", "POST", "form", "grant_type=client_credentials&scope=admin+write", true, 400, "invalid_scope"},
		{"a password grant without a password is invalid_request", "POST", "form", "grant_type=password&username=admin", true, 400, "invalid_request"},
		{"a refresh grant without a token is invalid_request", "POST", "form", "grant_type=refresh_token", true, 400, "invalid_request"},
		{"a garbage refresh token is invalid_grant", "POST", "form", "grant_type=refresh_token&refresh_token=lk_rt_nope", true, 400, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := ts.newRequest(tc.method, "/oauth2/token", strings.NewReader(tc.body))
			switch tc.contentType {
			case "":
			case "form":
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			default:
				req.Header.Set("Content-Type", tc.contentType)
			}
			if tc.basic {
				req.SetBasicAuth(demoClient, demoSecret)
			}
			res := ts.do(req)
			wantOAuthError(t, res, tc.status, tc.code)
			wantNoStore(t, res)
		})
	}

	t.Run("a body over 64 KiB without a Content-Length is 413", func(t *testing.T) {
		req := ts.newRequest("POST", "/oauth2/token", struct{ *strings.Reader }{strings.NewReader(big)})
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(demoClient, demoSecret)
		if req.ContentLength != 0 {
			t.Fatalf("the request has a Content-Length: %d", req.ContentLength)
		}
		res := ts.do(req)
		wantOAuthError(t, res, http.StatusRequestEntityTooLarge, "invalid_request")
	})

	t.Run("a client without the password grant is unauthorized_client", func(t *testing.T) {
		res := ts.postForm("/oauth2/token", url.Values{
			"grant_type": {"password"}, "username": {adminUser}, "password": {adminPass},
		}, ccID, ccSecret)
		wantOAuthError(t, res, http.StatusBadRequest, "unauthorized_client")
		wantNoStore(t, res)
		tok, err := ts.clientToken(ccID, ccSecret)
		if err != nil {
			t.Fatalf("its own grant: %v", err)
		}
		if tok.Extra("scope") != "read" {
			t.Errorf("scope %v, want read", tok.Extra("scope"))
		}
		_, err = ts.clientToken(ccID, ccSecret, "openid")
		wantRetrieveError(t, err, "invalid_scope", http.StatusBadRequest)
	})

	t.Run("malformed bodies never give a 5xx", func(t *testing.T) {
		var many strings.Builder
		many.WriteString("grant_type=password&username=admin&password=x")
		for i := range 10000 {
			many.WriteString("&k")
			many.WriteString(itoa36(i))
			many.WriteString("=")
		}
		sqlLogins := []string{
			"admin' OR '1'='1", "admin'--", `admin"; DROP TABLE users; --`, "' UNION SELECT password_hash FROM users --",
			"%", "_____", "adm_n", "ad%", "admin\\", "*", ")(uid=*)",
		}
		cases := []struct{ name, body string }{
			{"invalid percent-encoding", "grant_type=password&username=%zz&password=%"},
			{"a truncated percent escape", "grant_type=client_credentials&scope=%4"},
			{"non-UTF-8 in a value", "grant_type=password&username=%ff%fe&password=x"},
			{"non-UTF-8 in a name", "grant_type=client_credentials&%c3%28=1"},
			{"raw non-UTF-8 bytes", "grant_type=password&username=\xff\xfe\xfd&password=x"},
			{"ten thousand parameters", many.String()},
			{"NUL bytes in the username", "grant_type=password&username=ad%00min&password=" + adminPass},
			{"a NUL byte in the password", "grant_type=password&username=admin&password=" + url.QueryEscape(adminPass+"\x00")},
			{"a NUL byte in the grant type", "grant_type=password%00&username=admin&password=x"},
			{"a NUL in the scope", "grant_type=client_credentials&scope=openid%00admin"},
			{"a very long username", "grant_type=password&username=" + strings.Repeat("a", 5000) + "&password=x"},
			{"a very long password", "grant_type=password&username=admin&password=" + strings.Repeat("p", 8000)},
			{"a parameter over 8 KiB", "grant_type=client_credentials&scope=" + strings.Repeat("s", 9000)},
			{"a very long refresh token", "grant_type=refresh_token&refresh_token=lk_rt_" + strings.Repeat("r", 8000)},
			{"only separators", "&&&&===&="},
			{"a semicolon separator", "grant_type=client_credentials;scope=openid"},
			{"control characters", "grant_type=password&username=%01%02%1b[31m&password=%7f"},
			{"an empty body", ""},
		}
		for _, login := range sqlLogins {
			cases = append(cases, struct{ name, body string }{
				"SQL or LIKE metacharacters " + strconv.Quote(login),
				url.Values{"grant_type": {"password"}, "username": {login}, "password": {adminPass}}.Encode(),
			})
		}
		for _, tc := range cases {
			res := ts.postRaw("/oauth2/token", tc.body, demoClient, demoSecret)
			if res.Status >= 500 || res.Status < 400 {
				t.Errorf("%s: %s, want a 4xx", tc.name, res)
			}
			if res.Status == http.StatusOK {
				t.Errorf("%s: a token was issued", tc.name)
			}
			if !strings.Contains(string(res.Body), `"error"`) {
				t.Errorf("%s: no RFC 6749 error body: %s", tc.name, res.Body)
			}
		}
		for _, login := range sqlLogins {
			res := ts.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {login}, "password": {adminPass}}, demoClient, demoSecret)
			wantOAuthError(t, res, http.StatusBadRequest, "invalid_grant")
		}
		// Garbage where the client is named: the client is unknown, nothing worse.
		for _, id := range []string{"demo\x00", "\x00", "de\x00mo", "demo' OR '1'='1", "%", "demo\n", strings.Repeat("c", 300)} {
			for _, inBody := range []bool{false, true} {
				var res response
				if inBody {
					res = ts.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {demoSecret}}, "", "")
				} else {
					res = ts.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, id, demoSecret)
				}
				if res.Status >= 500 || res.Status == http.StatusOK {
					t.Errorf("client_id %q (in body: %v): %s, want 401 invalid_client or another 4xx", id, inBody, res)
				}
			}
		}
		// The same garbage at the other form endpoints.
		for _, path := range []string{"/oauth2/introspect", "/oauth2/revoke"} {
			for _, tc := range cases {
				res := ts.postRaw(path, strings.Replace(tc.body, "grant_type=", "token=", 1), demoClient, demoSecret)
				if res.Status >= 500 {
					t.Errorf("%s %s: %s", path, tc.name, res)
				}
			}
		}
	})

	t.Run("and nothing was written by bad input", func(t *testing.T) {
		users, err := ts.srv.Store().CountUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if users != usersBefore {
			t.Errorf("%d users, want %d", users, usersBefore)
		}
		clients, err := ts.srv.Store().ListClients(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(clients) != len(clientsBefore) {
			t.Errorf("%d clients, want %d", len(clients), len(clientsBefore))
		}
		for i := range min(len(clients), len(clientsBefore)) {
			a, b := clients[i], clientsBefore[i]
			if a.ID != b.ID || a.SecretHash != b.SecretHash || a.Scope != b.Scope || !a.UpdatedAt.Equal(b.UpdatedAt) {
				t.Errorf("client %s changed", a.ID)
			}
		}
		if _, err := ts.clientToken(demoClient, demoSecret); err != nil {
			t.Errorf("the server no longer works after the bad input: %v", err)
		}
	})
}

func itoa36(i int) string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 36 {
		b = append([]byte{digits[i%36]}, b...)
	}
	return string(b)
}

func TestUserinfoAnswersUserTokensWithTheClaimsTheirScopeGrants(t *testing.T) {
	ts := startServer(t, nil)
	admin := ts.user(adminUser)
	tok := ts.passwordToken(adminUser, adminPass, "openid", "profile", "email")

	t.Run("a user token with openid profile email gets the user's claims", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			var res response
			if method == http.MethodGet {
				res = ts.get("/oauth2/userinfo", tok.AccessToken)
			} else {
				res = ts.postForm("/oauth2/userinfo", url.Values{"access_token": {tok.AccessToken}}, "", "")
			}
			if res.Status != http.StatusOK {
				t.Fatalf("%s userinfo: %s", method, res)
			}
			m := res.json(t)
			if m["sub"] != itoa(admin.ID) || m["preferred_username"] != adminUser || m["email"] != adminEmail || m["email_verified"] != true {
				t.Errorf("%s userinfo %v", method, m)
			}
		}
	})

	t.Run("claims follow the scope", func(t *testing.T) {
		tok := ts.passwordToken(adminUser, adminPass, "openid")
		res := ts.get("/oauth2/userinfo", tok.AccessToken)
		if res.Status != http.StatusOK {
			t.Fatalf("%s", res)
		}
		m := res.json(t)
		if m["sub"] != itoa(admin.ID) || m["email"] != nil || m["preferred_username"] != nil {
			t.Errorf("userinfo for scope openid: %v", m)
		}
	})

	t.Run("without a token it is 401 with a Bearer challenge", func(t *testing.T) {
		res := ts.get("/oauth2/userinfo", "")
		if res.Status != http.StatusUnauthorized {
			t.Errorf("%s", res)
		}
		if got := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
			t.Errorf("WWW-Authenticate %q", got)
		}
	})

	t.Run("a bad, revoked or client token is refused", func(t *testing.T) {
		cc, err := ts.clientToken(demoClient, demoSecret)
		if err != nil {
			t.Fatal(err)
		}
		noOpenID := ts.passwordToken(adminUser, adminPass, "profile")
		revoked := ts.passwordToken(adminUser, adminPass, "openid")
		ts.revoke(revoked.AccessToken, demoClient, demoSecret)
		for _, tc := range []struct{ name, token string }{
			{"a client_credentials token", cc.AccessToken},
			{"a token without openid", noOpenID.AccessToken},
			{"a revoked token", revoked.AccessToken},
			{"garbage", "garbage"},
			{"an ID token", tok.Extra("id_token").(string)},
		} {
			res := ts.get("/oauth2/userinfo", tc.token)
			if res.Status != http.StatusUnauthorized && res.Status != http.StatusForbidden {
				t.Errorf("%s: %s, want 401 or 403", tc.name, res)
			}
			if got := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("%s: WWW-Authenticate %q", tc.name, got)
			}
		}
	})
}

func TestARefreshMayNarrowTheScopeButNotWidenIt(t *testing.T) {
	ts := startServer(t, nil)
	tok := ts.passwordToken(adminUser, adminPass, "openid", "profile")
	res := ts.postForm("/oauth2/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "scope": {"openid"},
	}, demoClient, demoSecret)
	if res.Status != http.StatusOK {
		t.Fatalf("narrowing refresh: %s", res)
	}
	m := res.json(t)
	if m["scope"] != "openid" {
		t.Errorf("narrowed scope %v, want openid", m["scope"])
	}
	_, claims, _ := jwtParts(t, m["access_token"].(string))
	if claims["scope"] != "openid" {
		t.Errorf("narrowed token scope %v", claims["scope"])
	}
	next := m["refresh_token"].(string)

	res = ts.postForm("/oauth2/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {next}, "scope": {"openid profile email"},
	}, demoClient, demoSecret)
	wantOAuthError(t, res, http.StatusBadRequest, "invalid_scope")

	// Without a scope the refresh gets the scope originally granted (RFC 6749 §6).
	again, err := ts.refresh(next)
	if err != nil {
		t.Fatalf("refresh after a refused widening: %v", err)
	}
	if again.Extra("scope") != "openid profile" {
		t.Errorf("scope %v, want the original openid profile", again.Extra("scope"))
	}
}

func TestAnotherClientCannotUseOrSpendARefreshToken(t *testing.T) {
	ts := startServer(t, nil)
	other := ts.createClient(ts.adminToken(), map[string]any{
		"client_name": "other", "grant_types": []string{"password", "refresh_token"},
	})
	tok := ts.passwordToken(adminUser, adminPass, "openid")
	res := ts.postForm("/oauth2/token", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken},
	}, other["client_id"].(string), other["client_secret"].(string))
	wantOAuthError(t, res, http.StatusBadRequest, "invalid_grant")

	// Bad input changes nothing (contract §10): the owner's session goes on.
	if active, _ := ts.introspectActive(tok.AccessToken); !active {
		t.Error("another client's failed refresh revoked the owner's access token")
	}
	if _, err := ts.refresh(tok.RefreshToken); err != nil {
		t.Errorf("another client's failed refresh spent the owner's refresh token: %v", err)
	}
}

func TestADeactivatedUserCanNeitherRefreshNorLogIn(t *testing.T) {
	ts := startServer(t, nil)
	u := ts.createUser("carol", "carol-password-1", true)
	tok := ts.passwordToken("carol", "carol-password-1", "openid")
	if _, err := ts.srv.Store().UpdateUser(t.Context(), u.ID, func(u *storage.User) error {
		u.IsActive = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Refresh and userinfo trust a cached user for tokens.user_cache_ttl.
	ts.Clock.Advance(config.Default().Tokens.UserCacheTTL)
	_, err := ts.refresh(tok.RefreshToken)
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	_, err = ts.passwordConfig().PasswordCredentialsToken(ts.ctx(), "carol", "carol-password-1")
	wantRetrieveError(t, err, "invalid_grant", http.StatusBadRequest)
	if res := ts.get("/admin/clients/", tok.AccessToken); res.Status != http.StatusForbidden && res.Status != http.StatusUnauthorized {
		t.Errorf("a deactivated staff user's token opens the admin API: %s", res)
	}
	if res := ts.get("/oauth2/userinfo", tok.AccessToken); res.Status == http.StatusOK {
		t.Errorf("a deactivated user's token gets userinfo: %s", res)
	}
}

func TestPublicClientsUseTheirIDAloneAndMayNotPresentASecret(t *testing.T) {
	ts := startServer(t, nil)
	pub := ts.createClient(ts.adminToken(), map[string]any{
		"client_name": "spa", "token_endpoint_auth_method": "none", "grant_types": []string{"password", "refresh_token"},
	})
	id := pub["client_id"].(string)
	cfg := &oauth2.Config{ClientID: id, Endpoint: oauth2.Endpoint{TokenURL: ts.URL + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	tok, err := cfg.PasswordCredentialsToken(ts.ctx(), adminUser, adminPass)
	if err != nil {
		t.Fatalf("public password grant: %v", err)
	}
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	if _, err := cfg.TokenSource(ts.ctx(), &expired).Token(); err != nil {
		t.Errorf("public refresh: %v", err)
	}
	res := ts.postForm("/oauth2/token", url.Values{
		"grant_type": {"password"}, "username": {adminUser}, "password": {adminPass},
	}, id, "made-up-secret")
	wantOAuthError(t, res, http.StatusUnauthorized, "invalid_client")

	t.Run("and a confidential client may not leave its secret out", func(t *testing.T) {
		res := ts.postForm("/oauth2/token", url.Values{
			"grant_type": {"client_credentials"}, "client_id": {demoClient},
		}, "", "")
		wantOAuthError(t, res, http.StatusUnauthorized, "invalid_client")
	})

	t.Run("and a confidential client may introspect with client_secret_post", func(t *testing.T) {
		res := ts.postForm("/oauth2/introspect", url.Values{
			"token": {tok.AccessToken}, "client_id": {demoClient}, "client_secret": {demoSecret},
		}, "", "")
		if res.Status != http.StatusOK || res.json(t)["active"] != true {
			t.Errorf("%s", res)
		}
	})
}

// TestConcurrentFirstStart starts two servers at once on one empty data
// directory, as two instances of a deployment do on their first start: both
// must come up, share one master key and one bootstrap, and serve the same
// tokens.
func TestConcurrentFirstStart(t *testing.T) {
	dir := t.TempDir()
	clock := newTestClock()
	servers := make([]*testServer, 2)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One deployment, one issuer (its public URL, here made up).
			servers[i] = startServerAt(t, "127.0.0.1:0", dir, clock, func(c *config.Config) {
				c.Issuer = "http://localhost:9"
			})
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	banners := 0
	for _, ts := range servers {
		if strings.Contains(ts.Out.String(), "curl") {
			banners++
		}
	}
	if banners != 1 {
		t.Errorf("%d bootstrap banners, want 1", banners)
	}
	tok := servers[0].passwordToken("admin", adminPass, "openid")
	if active, _ := servers[1].introspectActive(tok.AccessToken); !active {
		t.Error("a token of the first server is not active on the second")
	}
}
