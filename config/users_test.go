package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestValidateUserAPI(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // substring of the error; "" means valid
	}{
		{"the defaults are fine", func(c *Config) {}, ""},
		{"another prefix is fine", func(c *Config) { c.Users.API.APIPrefix = "/api/auth" }, ""},
		{"a prefix with a trailing slash is refused", func(c *Config) { c.Users.API.APIPrefix = "/auth/" }, "users.api_prefix: must be a path"},
		{"an empty user API prefix is refused", func(c *Config) { c.Users.API.APIPrefix = "" }, "users.api_prefix: must be a path"},
		{"an empty drf-jwt prefix is fine", func(c *Config) { c.Users.API.DRFJWT.Prefix = "" }, ""},
		{"a bad rest-auth prefix is refused when on", func(c *Config) { c.Users.API.RestAuth.Prefix = "rest-auth" }, "users.rest_auth.prefix: must be a path"},
		{"a bad rest-auth prefix is fine when off", func(c *Config) { c.Users.API.RestAuth = RouteSet{Prefix: "x"} }, ""},
		{"an all-digit first-party client is refused", func(c *Config) { c.Users.API.FirstPartyClient = "123" }, "users.first_party_client"},
		{"both profile schemas are refused", func(c *Config) { c.Users.API.ProfileSchema, c.Users.API.ProfileSchemaFile = "{}", "/x.json" }, "users.profile_schema_file: set users.profile_schema or users.profile_schema_file, not both"},
		{"a zero minimum length is refused", func(c *Config) { c.Users.API.Password.MinLength = 0 }, "users.password.min_length"},
		{"a similarity above 1 is refused", func(c *Config) { c.Users.API.Password.Similarity = 1.5 }, "users.password.similarity"},
		{"a link without {token} is refused", func(c *Config) { c.Users.API.ActivationURL = "#/activate/{uid}" }, "users.activation_url: must contain {uid} and {token}"},
		{"a bad protocol is refused", func(c *Config) { c.Users.API.Protocol = "ftp" }, `users.protocol: must be "http" or "https"`},
		{"a zero reset token ttl is refused", func(c *Config) { c.Users.API.ResetTokenTTL = 0 }, "users.reset_token_ttl: must be greater than 0"},
		{"a page size above 100 is refused", func(c *Config) { c.Users.API.PageSize = 101 }, "users.page_size: must be from 1 to 100"},
		{"a front-end URL is fine", func(c *Config) { c.Users.API.FrontendURL = "https://app.example.com/portal/" }, ""},
		{"a front-end URL without scheme is refused", func(c *Config) { c.Users.API.FrontendURL = "app.example.com" }, "users.frontend_url: must be an http(s) URL"},
		{"a front-end URL with a fragment is refused", func(c *Config) { c.Users.API.FrontendURL = "https://app.example.com/#/" }, "users.frontend_url"},
		{"a javascript front-end URL is refused", func(c *Config) { c.Users.API.FrontendURL = "javascript:alert(1)" }, "users.frontend_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestUserAPIFromFileAndEnvironment(t *testing.T) {
	c := Default()
	err := decodeYAML("test", []byte("users:\n  api_prefix: /api/auth\n  retype:\n    set_password: true\n  rest_auth:\n    enabled: false\n"), &c)
	if err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(&c, []string{"LATCHKEY_USERS__RESET_TOKEN_TTL=1h", "LATCHKEY_USERS__BASIC_AUTH=true", "LATCHKEY_USERS__DRF_JWT__PREFIX=/legacy"}); err != nil {
		t.Fatal(err)
	}
	u := c.Users.API
	if u.APIPrefix != "/api/auth" || !u.Retype.SetPassword || u.RestAuth.Enabled || u.ResetTokenTTL != time.Hour || !u.BasicAuth || u.DRFJWT.Prefix != "/legacy" {
		t.Errorf("users: %+v", u)
	}
	if u.LoginTokenTTL != 10*time.Hour || c.Users.Registration != "open" {
		t.Errorf("defaults lost: %+v", c.Users)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestUserAPIDomainDefaultsToTheIssuers(t *testing.T) {
	c := Default()
	c.Issuer = "https://id.example.com/base"
	if p, d := c.UserAPIDomain(); p != "https" || d != "id.example.com" {
		t.Errorf("%s %s", p, d)
	}
	c.Users.API.Domain, c.Users.API.Protocol = "app.example.com", "http"
	if p, d := c.UserAPIDomain(); p != "http" || d != "app.example.com" {
		t.Errorf("%s %s", p, d)
	}
}

func TestFrontendURLAndMailLinks(t *testing.T) {
	c := Default()
	if !c.HostedMailLinks() {
		t.Error("without a front-end the links are not the hosted pages'")
	}
	if p, d := c.UserAPIDomain(); p != "http" || d != "localhost:8080" {
		t.Errorf("domain %s %s", p, d)
	}
	c.Users.API.FrontendURL = "https://app.example.com/portal/"
	if c.HostedMailLinks() {
		t.Error("with users.frontend_url the links are the hosted pages'")
	}
	if p, d := c.UserAPIDomain(); p != "https" || d != "app.example.com/portal" {
		t.Errorf("domain %s %s", p, d)
	}
	c = Default()
	c.Users.API.Domain = "app.example.com"
	if c.HostedMailLinks() {
		t.Error("with users.domain (djoser's DOMAIN) the links are the hosted pages'")
	}
}

func TestValidateUI(t *testing.T) {
	file := t.TempDir() + "/file"
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"the defaults are fine", func(c *Config) {}, ""},
		{"a logo path is fine", func(c *Config) { c.UI.LogoURL = "/static/logo.png" }, ""},
		{"an https logo is fine", func(c *Config) { c.UI.LogoURL = "https://cdn.example.com/logo.svg" }, ""},
		{"an http logo is refused", func(c *Config) { c.UI.LogoURL = "http://cdn.example.com/logo.svg" }, "ui.logo_url: must be an https URL"},
		{"a scheme-relative logo is refused", func(c *Config) { c.UI.LogoURL = "//cdn.example.com/logo.svg" }, "ui.logo_url"},
		{"a javascript logo is refused", func(c *Config) { c.UI.LogoURL = "javascript:alert(1)" }, "ui.logo_url"},
		{"an empty product name is refused", func(c *Config) { c.UI.ProductName = " " }, "ui.product_name"},
		{"a missing templates folder is refused", func(c *Config) { c.UI.Templates = t.TempDir() + "/missing" }, "ui.templates: cannot use directory"},
		{"a templates file is refused", func(c *Config) { c.UI.Templates = file }, "is a file, not a directory"},
		{"a templates folder is fine", func(c *Config) { c.UI.Templates = t.TempDir() }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.mutate(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	c := Default()
	if err := applyEnv(&c, []string{"LATCHKEY_UI__PRODUCT_NAME=Acme", "LATCHKEY_UI__LOGO_URL=/logo.png"}); err != nil || c.UI.ProductName != "Acme" || c.UI.LogoURL != "/logo.png" {
		t.Errorf("ui from the environment: %+v, %v", c.UI, err)
	}
}
