package server_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
)

// TestAdminAPIRefusesDangerousRedirectURIs is the review's reproduction: a
// javascript: redirect URI (and every other scheme a browser would run or
// read locally, wildcards, userinfo) is a 400 naming the URI and the rule,
// on create and on update, and nothing is stored.
func TestAdminAPIRefusesDangerousRedirectURIs(t *testing.T) {
	ts := startServer(t, nil)
	adminTok := ts.adminToken()
	created := ts.createClient(adminTok, map[string]any{
		"client_name": "spa", "grant_types": []string{"password", "refresh_token"}, "token_endpoint_auth_method": "none",
		"redirect_uris":             []string{"https://app.example.com/cb", "com.example.app:/cb"},
		"post_logout_redirect_uris": []string{"https://app.example.com/bye"},
	})
	id := created["client_id"].(string)
	for _, tc := range []struct{ field, uri, rule string }{
		{"redirect_uris", "javascript:alert(document.cookie)", "javascript: scheme"},
		{"redirect_uris", "data:text/html,<script>alert(1)</script>", "data: scheme"},
		{"redirect_uris", "file:///etc/passwd", "file: scheme"},
		{"redirect_uris", "vbscript:msgbox(1)", "vbscript: scheme"},
		{"redirect_uris", "myapp:/cb", "reverse-domain"},
		{"redirect_uris", "https://*.example.com/cb", "wildcard"},
		{"redirect_uris", "https://user:pass@app.example.com/cb", "userinfo"},
		{"redirect_uris", "https://app.example.com/cb#x", "fragment"},
		{"post_logout_redirect_uris", "javascript:alert(1)", "javascript: scheme"},
		{"post_logout_redirect_uris", "http://app.example.com/bye", "loopback"},
	} {
		body := map[string]any{
			"client_name": "spa", "grant_types": []string{"password", "refresh_token"}, "token_endpoint_auth_method": "none",
			"redirect_uris": []string{"https://app.example.com/cb"}, "post_logout_redirect_uris": []string{},
		}
		body[tc.field] = []string{tc.uri}
		for _, op := range []struct{ method, path string }{
			{http.MethodPost, "/admin/clients/"},
			{http.MethodPut, "/admin/clients/" + id + "/"},
		} {
			res := ts.adminJSON(op.method, op.path, adminTok, body)
			wantOAuthError(t, res, http.StatusBadRequest, "invalid_redirect_uri")
			desc, _ := res.json(t)["error_description"].(string)
			if !strings.Contains(desc, tc.field) || !strings.Contains(desc, tc.rule) || !strings.Contains(desc, tc.uri) {
				t.Errorf("%s %s %s: error_description %q does not name the field, the URI and the rule %q", op.method, tc.field, tc.uri, desc, tc.rule)
			}
		}
	}
	list, err := ts.srv.Store().ListClients(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 {
		t.Errorf("%d clients, want demo, latchkey-api and spa: a refused client was stored", len(list))
	}
	c, err := ts.srv.Store().GetClient(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.RedirectURIs, []string{"https://app.example.com/cb", "com.example.app:/cb"}) || !slices.Equal(c.PostLogoutRedirectURIs, []string{"https://app.example.com/bye"}) {
		t.Errorf("a refused update changed the client: %v %v", c.RedirectURIs, c.PostLogoutRedirectURIs)
	}
}
