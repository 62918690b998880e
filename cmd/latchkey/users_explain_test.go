package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const mapperYAML = `permissions:
  groups:
    ProductManagers: [store.view_product, store.change_product, store.can_publish_product]
  scopes:
    products:read:  {requires: [store.view_product], covers: ["store.view_*"]}
    products:write: {requires: [store.change_product], covers: ["store.*"]}
  claims:
    profile: {team: profile.team}
`

func withMapper(t *testing.T, e *cliEnv, yaml string) {
	t.Helper()
	cfg := filepath.Join(e.dir, "latchkey.yaml")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(yaml); err != nil {
		t.Fatal(err)
	}
}

func TestUsersExplainPrintsTheRuleOfEachLine(t *testing.T) {
	e := newCLIEnv(t)
	withMapper(t, e, mapperYAML)
	csvFile := filepath.Join(e.dir, "users.csv")
	csv := "username,email,password,first_name,last_name,is_active,is_staff,is_superuser,groups\n" +
		"carol,carol@example.com,,Carol,C,true,false,false,ProductManagers\n" +
		"dave,dave@example.com,,Dave,D,true,false,false,\n"
	if err := os.WriteFile(csvFile, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	e.run(t, false, "", "users", "import", csvFile)

	out := e.run(t, false, "", "users", "explain", "carol", "--client", "latchkey-api", "--scope", "openid products:read products:write")
	for _, want := range []string{
		`granted scope: "openid products:read products:write"`,
		`permissions  ["store.can_publish_product","store.change_product","store.view_product"]`,
		`groups       ["ProductManagers"]`,
		"+ group      ProductManagers",
		"+ scope      products:write               permissions.scopes.products:write requires store.change_product: held",
		`+ permission store.change_product         from group ProductManagers; covered by scope products:write ("store.*")`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain carol lacks %q:\n%s", want, out)
		}
	}

	out = e.run(t, false, "", "users", "explain", "dave@example.com", "--client", "latchkey-api", "--scope", "openid products:read")
	for _, want := range []string{
		`granted scope: "openid"`, `permissions  []`, `groups       []`,
		"- scope      products:read                permissions.scopes.products:read requires store.view_product, which the user lacks (dropped)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain dave lacks %q:\n%s", want, out)
		}
	}

	if out := e.run(t, true, "", "users", "explain", "dave", "--client", "latchkey-api", "--scope", "products:write"); !strings.Contains(out, "invalid_scope") {
		t.Errorf("nothing grantable printed %q", out)
	}
	if out := e.run(t, true, "", "users", "explain", "nobody", "--client", "latchkey-api"); !strings.Contains(out, `no user "nobody"`) {
		t.Errorf("an unknown user printed %q", out)
	}
	if out := e.run(t, true, "", "users", "explain", "carol", "--client", "nope"); !strings.Contains(out, `no client "nope"`) {
		t.Errorf("an unknown client printed %q", out)
	}
}

func TestConfigCheckNamesTheBadMappingKey(t *testing.T) {
	e := newCLIEnv(t)
	withMapper(t, e, "permissions:\n  scopes:\n    products:read: {covers: [\"store.[view\"]}\n  claims:\n    prodcts:read: {team: profile.team}\n")
	out := e.run(t, true, "", "config", "check")
	for _, want := range []string{"permissions.scopes.products:read.covers[0]", "permissions.claims.prodcts:read", "unknown scope"} {
		if !strings.Contains(out, want) {
			t.Errorf("config check printed %q, want %q in it", out, want)
		}
	}
}
