package config

import (
	"testing"
	"time"
)

func TestValidateOAuth2(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // substring of the error; "" means valid
	}{
		{"registration is off by default", func(*Config) {}, ""},
		{"open registration is fine", func(c *Config) { c.OAuth2.Registration = "open" }, ""},
		{"registration with initial access tokens is fine", func(c *Config) { c.OAuth2.Registration = "initial_access_token" }, ""},
		{"an unknown registration policy is refused", func(c *Config) { c.OAuth2.Registration = "yes" }, `oauth2.registration: must be "off", "open" or "initial_access_token", got "yes"`},
		{"a client ttl of 0 keeps clients forever", func(c *Config) { c.OAuth2.RegistrationClientTTL = 0 }, ""},
		{"a client ttl under an hour is refused", func(c *Config) { c.OAuth2.RegistrationClientTTL = time.Minute }, "oauth2.registration_client_ttl: must be 0"},
		{"a negative rate limit is refused", func(c *Config) { c.OAuth2.RegistrationRateLimit.Requests = -1 }, "oauth2.registration_rate_limit.requests"},
		{"a rate limit without a window is refused", func(c *Config) { c.OAuth2.RegistrationRateLimit.Window = 0 }, "oauth2.registration_rate_limit.window"},
		{"no rate limit needs no window", func(c *Config) { c.OAuth2.RegistrationRateLimit = RequestLimit{} }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tt.want)
		})
	}
}

func TestOAuth2FromEnv(t *testing.T) {
	c := Default()
	env := []string{"LATCHKEY_OAUTH2__REGISTRATION=open", "LATCHKEY_OAUTH2__REGISTRATION_RATE_LIMIT__REQUESTS=3"}
	if err := applyEnv(&c, env); err != nil {
		t.Fatal(err)
	}
	if c.OAuth2.Registration != "open" || c.OAuth2.RegistrationRateLimit.Requests != 3 {
		t.Fatalf("oauth2 from env = %+v", c.OAuth2)
	}
}
