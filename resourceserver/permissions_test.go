package resourceserver

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPermissions: DRF's permission classes, and their composition, on
// anonymous, user, staff and client principals.
func TestPermissions(t *testing.T) {
	user := &Principal{Subject: "42", ClientID: "web", Scopes: []string{"products:read"},
		Permissions: []string{"store.change_product", "store.add_product"}}
	staff := &Principal{Subject: "1", ClientID: "web", Permissions: []string{"admin"}}
	staffFlag := &Principal{Subject: "2", ClientID: "web", Claims: map[string]any{"is_staff": true}}
	client := &Principal{Subject: "svc", ClientID: "svc", Scopes: []string{"products:write"}}
	type who = *Principal
	cases := []struct {
		name   string
		perm   Permission
		method string
		p      who
		allow  bool
	}{
		{"AllowAny anonymous", AllowAny, "POST", nil, true},
		{"IsAuthenticated anonymous", IsAuthenticated, "GET", nil, false},
		{"IsAuthenticated user", IsAuthenticated, "GET", user, true},
		{"IsAuthenticated client", IsAuthenticated, "GET", client, true},
		{"IsAdminUser user", IsAdminUser, "GET", user, false},
		{"IsAdminUser admin permission", IsAdminUser, "GET", staff, true},
		{"IsAdminUser is_staff claim", IsAdminUser, "GET", staffFlag, true},
		{"IsAdminUser anonymous", IsAdminUser, "GET", nil, false},
		{"ReadOnly anonymous GET", IsAuthenticatedOrReadOnly, "GET", nil, true},
		{"ReadOnly anonymous HEAD", IsAuthenticatedOrReadOnly, "HEAD", nil, true},
		{"ReadOnly anonymous POST", IsAuthenticatedOrReadOnly, "POST", nil, false},
		{"ReadOnly user POST", IsAuthenticatedOrReadOnly, "POST", user, true},
		{"HasScope held", HasScope("products:read"), "GET", user, true},
		{"HasScope missing", HasScope("products:read", "products:write"), "GET", user, false},
		{"HasPermission held", HasPermission("store.change_product"), "PUT", user, true},
		{"HasPermission missing", HasPermission("store.can_publish_product"), "POST", user, false},
		{"Model GET", DjangoModelPermissions("store", "product"), "GET", user, true},
		{"Model GET anonymous", DjangoModelPermissions("store", "product"), "GET", nil, false},
		{"Model POST add", DjangoModelPermissions("store", "product"), "POST", user, true},
		{"Model PATCH change", DjangoModelPermissions("store", "product"), "PATCH", user, true},
		{"Model DELETE", DjangoModelPermissions("store", "product"), "DELETE", user, false},
		{"Model unknown method", DjangoModelPermissions("store", "product"), "PROPFIND", user, false},
		{"ModelOrAnon GET anonymous", DjangoModelPermissionsOrAnonReadOnly("store", "product"), "GET", nil, true},
		{"ModelOrAnon POST anonymous", DjangoModelPermissionsOrAnonReadOnly("store", "product"), "POST", nil, false},
		{"And both", And(IsAuthenticated, HasScope("products:read")), "GET", user, true},
		{"And one", And(IsAuthenticated, HasScope("products:write")), "GET", user, false},
		{"Or one", Or(IsAdminUser, HasScope("products:write")), "GET", client, true},
		{"Or none", Or(IsAdminUser, HasScope("products:write")), "GET", user, false},
		{"Not", Not(IsAdminUser), "GET", user, true},
		{"Not staff", Not(IsAdminUser), "GET", staff, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "/", nil)
			if got := c.perm.Check(r, c.p) == nil; got != c.allow {
				t.Fatalf("allowed = %v, want %v", got, c.allow)
			}
		})
	}
}

type profile struct{ owner string }

func (p profile) OwnerSubject() string { return p.owner }

func TestIsLoggedInUserOrAdmin(t *testing.T) {
	user := &Principal{Subject: "42", ClientID: "web"}
	staff := &Principal{Subject: "1", ClientID: "web", Permissions: []string{"admin"}}
	client := &Principal{Subject: "svc", ClientID: "svc"}
	r := httptest.NewRequest("PATCH", "/", nil)
	for _, c := range []struct {
		name  string
		p     *Principal
		obj   any
		allow bool
	}{
		{"owner", user, profile{"42"}, true},
		{"owner by subject", user, "42", true},
		{"someone else's", user, profile{"43"}, false},
		{"staff", staff, profile{"43"}, true},
		{"client named like the owner", client, profile{"svc"}, false},
		{"no owner", user, profile{""}, false},
		{"anonymous", nil, profile{"42"}, false},
	} {
		if got := IsLoggedInUserOrAdmin.CheckObject(r, c.p, c.obj) == nil; got != c.allow {
			t.Errorf("%s: allowed = %v, want %v", c.name, got, c.allow)
		}
	}
}

// TestMiddlewareAnswers: the status, DRF body and RFC 6750 challenge of
// every refusal, and the principal handed to the handler.
func TestMiddlewareAnswers(t *testing.T) {
	is := newTestIssuer(t)
	v := is.verifier(nil)
	good := is.sign(is.claims(), "at+jwt")
	expired := is.claims()
	expired["exp"] = 1
	cases := []struct {
		name, auth string
		perm       Permission
		status     int
		detail     string
		challenge  string
	}{
		{"anonymous, auth required", "", IsAuthenticated, 401, MsgNotAuthenticated, `Bearer realm="api"`},
		{"basic is anonymous", "Basic YTpi", IsAuthenticated, 401, MsgNotAuthenticated, `Bearer realm="api"`},
		{"bad token under AllowAny", "Bearer nope", AllowAny, 401, MsgAuthenticationFailed,
			`Bearer realm="api", error="invalid_token", error_description="not a JWT and introspection is off"`},
		{"empty bearer", "Bearer ", AllowAny, 401, MsgAuthenticationFailed,
			`Bearer realm="api", error="invalid_token", error_description="empty or too long"`},
		{"expired", "Bearer " + is.sign(expired, "at+jwt"), IsAuthenticated, 401, MsgAuthenticationFailed,
			`Bearer realm="api", error="invalid_token", error_description="expired"`},
		{"long claim in the description", "Bearer " + is.sign(map[string]any{"iss": strings.Repeat("\"x", 500)}, "at+jwt"), AllowAny, 401,
			MsgAuthenticationFailed, `Bearer realm="api", error="invalid_token", error_description="issuer ` + strings.Repeat("x", 193) + `"`},
		{"missing scope", "Bearer " + good, HasScope("products:write"), 403, MsgPermissionDenied,
			`Bearer realm="api", error="insufficient_scope", scope="products:write"`},
		{"missing permission", "Bearer " + good, HasPermission("store.delete_product"), 403, MsgPermissionDenied, ""},
		{"allowed", "bearer " + good, And(HasScope("products:read"), HasPermission("store.change_product")), 200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got *Principal
			h := v.Require(c.perm)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, _ = PrincipalFrom(r.Context())
			}))
			r := httptest.NewRequest("GET", "/", nil)
			if c.auth != "" {
				r.Header.Set("Authorization", c.auth)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d: %s", w.Code, c.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != c.challenge {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, c.challenge)
			}
			if c.status == 200 {
				if got == nil || got.Subject != "42" {
					t.Fatalf("principal = %+v", got)
				}
				return
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["detail"] != c.detail || len(body) != 1 {
				t.Fatalf("body = %s, want detail %q", w.Body, c.detail)
			}
		})
	}
}

func TestPrincipalFromAnonymous(t *testing.T) {
	if p, ok := PrincipalFrom(context.Background()); ok || p != nil {
		t.Fatal("a principal in an empty context")
	}
}
