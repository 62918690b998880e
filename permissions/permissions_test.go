package permissions_test

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/permissions"
)

// storeConfig is the shape of contract §6 with the seeds' rules.
func storeConfig() config.Permissions {
	return config.Permissions{
		Groups: map[string][]string{
			"ProductManagers": {"store.view_product", "store.change_product", "store.can_publish_product"},
		},
		Scopes: map[string]config.ScopeRule{
			"products:read":  {Requires: []string{"store.view_product"}, Covers: []string{"store.view_*"}},
			"products:write": {Requires: []string{"store.change_product"}, Covers: []string{"store.*"}},
		},
		Claims: map[string]map[string]string{
			"profile":       {"department": "profile.department"},
			"products:read": {"employee": "profile.hr.employee_no"},
		},
	}
}

func mustMapper(t *testing.T, cfg config.Permissions) *permissions.Mapper {
	t.Helper()
	m, err := permissions.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var managers = permissions.Group{Name: "ProductManagers", Permissions: []string{"store.view_product", "store.change_product", "store.can_publish_product"}}

func TestMap(t *testing.T) {
	all := []string{"openid", "profile", "email", "groups", "products:read", "products:write"}
	mapped := mustMapper(t, storeConfig())
	unmapped := mustMapper(t, config.Permissions{})
	for _, tc := range []struct {
		name      string
		m         *permissions.Mapper
		req       permissions.Request
		wantErr   error
		scopes    []string
		groups    []string
		perms     []string
		claims    map[string]any
		notClient bool
	}{
		{
			name:   "a manager asking for both product scopes gets both and every store permission",
			m:      mapped,
			req:    permissions.Request{User: &permissions.User{Groups: []permissions.Group{managers}}, ClientScopes: all, Requested: []string{"openid", "products:read", "products:write"}},
			scopes: []string{"openid", "products:read", "products:write"}, groups: []string{"ProductManagers"},
			perms: []string{"store.can_publish_product", "store.change_product", "store.view_product"},
		},
		{
			name:   "claims are limited to what the granted scopes cover",
			m:      mapped,
			req:    permissions.Request{User: &permissions.User{Groups: []permissions.Group{managers}}, ClientScopes: all, Requested: []string{"openid", "products:read"}},
			scopes: []string{"openid", "products:read"}, groups: []string{"ProductManagers"},
			perms: []string{"store.view_product"},
		},
		{
			name:   "a scope the client may not ask for is dropped when others remain",
			m:      mapped,
			req:    permissions.Request{User: &permissions.User{Groups: []permissions.Group{managers}}, ClientScopes: []string{"openid", "products:read"}, Requested: []string{"openid", "products:write"}},
			scopes: []string{"openid"}, groups: []string{"ProductManagers"}, perms: []string{},
		},
		{
			name:   "a scope whose requires the user lacks is dropped when others remain",
			m:      mapped,
			req:    permissions.Request{User: &permissions.User{Groups: []permissions.Group{{Name: "Viewers", Permissions: []string{"store.view_product"}}}}, ClientScopes: all, Requested: []string{"products:read", "products:write"}},
			scopes: []string{"products:read"}, groups: []string{"Viewers"}, perms: []string{"store.view_product"},
		},
		{
			name:    "nothing left of the request is ErrNoScope",
			m:       mapped,
			req:     permissions.Request{User: &permissions.User{}, ClientScopes: all, Requested: []string{"products:write"}},
			wantErr: permissions.ErrNoScope,
		},
		{
			name:    "an unknown scope alone is ErrNoScope",
			m:       mapped,
			req:     permissions.Request{User: &permissions.User{}, ClientScopes: all, Requested: []string{"billing:admin"}},
			wantErr: permissions.ErrNoScope,
		},
		{
			name:   "an unknown scope beside a known one is dropped",
			m:      mapped,
			req:    permissions.Request{User: &permissions.User{}, ClientScopes: all, Requested: []string{"billing:admin", "openid"}},
			scopes: []string{"openid"}, groups: []string{}, perms: []string{},
		},
		{
			name:   "a scope without a scopes entry needs only the client",
			m:      mapped,
			req:    permissions.Request{User: &permissions.User{}, ClientScopes: []string{"openid", "reports"}, Requested: []string{"reports"}},
			scopes: []string{"reports"}, groups: []string{}, perms: []string{},
		},
		{
			name:   "a user without groups gets empty lists, not none",
			m:      unmapped,
			req:    permissions.Request{User: &permissions.User{}, ClientScopes: all, Requested: []string{"openid"}},
			scopes: []string{"openid"}, groups: []string{}, perms: []string{},
		},
		{
			name:   "without a mapping every permission of the user is in the token",
			m:      unmapped,
			req:    permissions.Request{User: &permissions.User{Groups: []permissions.Group{managers}}, ClientScopes: all, Requested: []string{"openid"}},
			scopes: []string{"openid"}, groups: []string{"ProductManagers"},
			perms: []string{"store.can_publish_product", "store.change_product", "store.view_product"},
		},
		{
			name:   "the user's own permissions count like a group's",
			m:      mapped,
			req:    permissions.Request{User: &permissions.User{Permissions: []string{"store.change_product", "store.delete_product"}}, ClientScopes: all, Requested: []string{"products:write"}},
			scopes: []string{"products:write"}, groups: []string{}, perms: []string{"store.change_product", "store.delete_product"},
		},
		{
			name:   "own permissions without a mapping are all in the token",
			m:      unmapped,
			req:    permissions.Request{User: &permissions.User{Permissions: []string{"shop.add_order"}, Groups: []permissions.Group{{Name: "Buyers", Permissions: []string{"shop.view_order", "shop.add_order"}}}}, ClientScopes: all, Requested: []string{"openid"}},
			scopes: []string{"openid"}, groups: []string{"Buyers"}, perms: []string{"shop.add_order", "shop.view_order"},
		},
		{
			name:   "a superuser qualifies for every scope and holds every known permission",
			m:      mapped,
			req:    permissions.Request{User: &permissions.User{Superuser: true}, ClientScopes: all, Requested: []string{"products:write"}, Known: []string{"store.delete_product", "billing.view_invoice"}},
			scopes: []string{"products:write"}, groups: []string{},
			perms: []string{"store.can_publish_product", "store.change_product", "store.delete_product", "store.view_product"},
		},
		{
			name:   "a superuser without a mapping holds the admin role and every permission",
			m:      unmapped,
			req:    permissions.Request{User: &permissions.User{Superuser: true}, ClientScopes: all, Requested: []string{"openid"}, Known: []string{"billing.view_invoice"}},
			scopes: []string{"openid"}, groups: []string{}, perms: []string{"admin", "billing.view_invoice"},
		},
		{
			name:   "staff hold the admin role",
			m:      unmapped,
			req:    permissions.Request{User: &permissions.User{Staff: true}, ClientScopes: all, Requested: []string{"openid"}},
			scopes: []string{"openid"}, groups: []string{}, perms: []string{"admin"},
		},
		{
			name:   "the admin role is covered like any permission once scopes are mapped",
			m:      mapped,
			req:    permissions.Request{User: &permissions.User{Staff: true}, ClientScopes: all, Requested: []string{"openid"}},
			scopes: []string{"openid"}, groups: []string{}, perms: []string{},
		},
		{
			name:   "a client's token gets its scopes, ignoring requires, and no groups or permissions",
			m:      mapped,
			req:    permissions.Request{ClientScopes: []string{"products:write"}, Requested: []string{"products:write"}},
			scopes: []string{"products:write"},
		},
		{
			name:   "an empty request grants nothing and is no error",
			m:      mapped,
			req:    permissions.Request{User: &permissions.User{}, ClientScopes: all},
			groups: []string{}, perms: []string{},
		},
		{
			name:   "duplicates are granted once in request order",
			m:      nil,
			req:    permissions.Request{User: &permissions.User{}, ClientScopes: all, Requested: []string{"profile", "openid", "profile"}},
			scopes: []string{"profile", "openid"}, groups: []string{}, perms: []string{},
		},
		{
			name: "extra claims come from the granted scopes only",
			m:    mapped,
			req: permissions.Request{User: &permissions.User{Groups: []permissions.Group{managers}, Attributes: map[string]any{
				"profile": map[string]any{"department": "sales", "hr": map[string]any{"employee_no": 7.0}},
			}}, ClientScopes: all, Requested: []string{"profile"}},
			scopes: []string{"profile"}, groups: []string{"ProductManagers"}, perms: []string{},
			claims: map[string]any{"department": "sales"},
		},
		{
			name: "a nested profile path and a missing one",
			m:    mapped,
			req: permissions.Request{User: &permissions.User{Groups: []permissions.Group{managers}, Attributes: map[string]any{
				"profile": map[string]any{"hr": map[string]any{"employee_no": 7.0}},
			}}, ClientScopes: all, Requested: []string{"profile", "products:read"}},
			scopes: []string{"profile", "products:read"}, groups: []string{"ProductManagers"}, perms: []string{"store.view_product"},
			claims: map[string]any{"employee": 7.0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := tc.m.Map(tc.req)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(res.Scopes, tc.scopes) {
				t.Errorf("scopes %q, want %q", res.Scopes, tc.scopes)
			}
			if !reflect.DeepEqual(res.Groups, tc.groups) {
				t.Errorf("groups %#v, want %#v", res.Groups, tc.groups)
			}
			if !reflect.DeepEqual(res.Permissions, tc.perms) {
				t.Errorf("permissions %#v, want %#v", res.Permissions, tc.perms)
			}
			if res.User != (tc.req.User != nil) {
				t.Errorf("User = %v", res.User)
			}
			if len(res.Claims) != 0 || len(tc.claims) != 0 {
				if !reflect.DeepEqual(res.Claims, tc.claims) {
					t.Errorf("claims %v, want %v", res.Claims, tc.claims)
				}
			}
		})
	}
}

func TestMapIsPure(t *testing.T) {
	m := mustMapper(t, storeConfig())
	u := &permissions.User{Groups: []permissions.Group{managers}, Permissions: []string{"z.b", "a.a"}}
	req := permissions.Request{User: u, ClientScopes: []string{"openid", "products:read"}, Requested: []string{"products:read", "openid"}}
	first, err := m.Map(req)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := m.Map(req)
	if !reflect.DeepEqual(first, second) {
		t.Errorf("two calls differ:\n%+v\n%+v", first, second)
	}
	if !slices.Equal(u.Permissions, []string{"z.b", "a.a"}) || u.Groups[0].Permissions[0] != "store.view_product" {
		t.Errorf("Map changed its input: %+v", u)
	}
}

func TestTraceNamesTheRule(t *testing.T) {
	m := mustMapper(t, storeConfig())
	req := permissions.Request{
		User:   &permissions.User{Groups: []permissions.Group{{Name: "Viewers", Permissions: []string{"store.view_product"}}}},
		Client: "web", ClientScopes: []string{"openid", "products:read", "products:write"},
		Requested: []string{"openid", "products:read", "products:write", "admin:all"},
		Explain:   true,
	}
	res, err := m.Map(req)
	if err != nil {
		t.Fatal(err)
	}
	// Without Explain the decision is the same, with no trace.
	req.Explain = false
	plain, err := m.Map(req)
	if err != nil {
		t.Fatal(err)
	}
	if plain.Trace != nil {
		t.Errorf("a trace without Explain: %+v", plain.Trace)
	}
	plain.Trace = res.Trace
	if !reflect.DeepEqual(plain, res) {
		t.Errorf("Explain changed the decision:\n%+v\n%+v", plain, res)
	}
	var lines []string
	for _, s := range res.Trace {
		lines = append(lines, s.String())
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		"+ group      Viewers",
		"+ scope      openid                       client web may ask for it; no permissions.scopes entry",
		"+ scope      products:read                permissions.scopes.products:read requires store.view_product: held",
		"- scope      products:write               permissions.scopes.products:write requires store.change_product, which the user lacks (dropped)",
		"- scope      admin:all                    client web may not ask for it (dropped)",
		`+ permission store.view_product           from group Viewers; covered by scope products:read ("store.view_*")`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("trace lacks %q:\n%s", want, text)
		}
	}
}

func TestNewRefusesBadConfigNamingTheKey(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  config.Permissions
		key  string
	}{
		{"a malformed covers pattern", config.Permissions{Scopes: map[string]config.ScopeRule{"p": {Covers: []string{"store.[view"}}}}, "permissions.scopes.p.covers[0]"},
		{"an empty covers pattern", config.Permissions{Scopes: map[string]config.ScopeRule{"p": {Covers: []string{""}}}}, "permissions.scopes.p.covers[0]"},
		{"a requires that is no permission", config.Permissions{Scopes: map[string]config.ScopeRule{"p": {Requires: []string{"store view"}}}}, "permissions.scopes.p.requires[0]"},
		{"a scope name with a space", config.Permissions{Scopes: map[string]config.ScopeRule{"a b": {}}}, "permissions.scopes.a b"},
		{"claims of an unknown scope", config.Permissions{Claims: map[string]map[string]string{"prodcts:read": {"x": "username"}}}, "permissions.claims.prodcts:read"},
		{"a claim from an unknown source", config.Permissions{Claims: map[string]map[string]string{"profile": {"dept": "department"}}}, "permissions.claims.profile.dept"},
		{"a claim latchkey sets itself", config.Permissions{Claims: map[string]map[string]string{"profile": {"sub": "username"}}}, "permissions.claims.profile.sub"},
		{"an empty profile path", config.Permissions{Claims: map[string]map[string]string{"profile": {"x": "profile."}}}, "permissions.claims.profile.x"},
		{"a group permission that is no permission", config.Permissions{Groups: map[string][]string{"G": {"ok.one", "bad perm"}}}, "permissions.groups.G[1]"},
		{"a group name the admin API refuses", config.Permissions{Groups: map[string][]string{"a/b": {"ok.one"}}}, "permissions.groups.a/b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := permissions.New(tc.cfg)
			var fe *config.FieldError
			if !errors.As(err, &fe) || fe.Key != tc.key {
				t.Fatalf("err = %v, want a problem at %s", err, tc.key)
			}
		})
	}
	t.Run("every problem is reported at once", func(t *testing.T) {
		_, err := permissions.New(config.Permissions{
			Scopes: map[string]config.ScopeRule{"p": {Covers: []string{"["}}},
			Claims: map[string]map[string]string{"nope": {"x": "username"}},
		})
		if err == nil || !strings.Contains(err.Error(), "permissions.scopes.p.covers[0]") || !strings.Contains(err.Error(), "permissions.claims.nope") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("the contract's example is accepted", func(t *testing.T) {
		mustMapper(t, storeConfig())
	})
}
