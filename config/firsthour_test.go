package config

import (
	"strings"
	"testing"
)

func TestIssuerFollowsTheListenAddressUnlessSet(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    string
		derived bool
	}{
		{"the default listen address gives the contract's default issuer", nil, "http://localhost:8080", true},
		{"a loopback address on another port becomes localhost on that port", []string{"LATCHKEY_LISTEN=127.0.0.1:8084"}, "http://localhost:8084", true},
		{"every address (:port) becomes localhost", []string{"LATCHKEY_LISTEN=:9000"}, "http://localhost:9000", true},
		{"0.0.0.0 becomes localhost", []string{"LATCHKEY_LISTEN=0.0.0.0:9000"}, "http://localhost:9000", true},
		{"IPv6 loopback becomes localhost", []string{"LATCHKEY_LISTEN=[::1]:9001"}, "http://localhost:9001", true},
		{"with TLS the scheme is https", []string{"LATCHKEY_LISTEN=127.0.0.1:8443", "LATCHKEY_TLS__CERT_FILE=config_test.go", "LATCHKEY_TLS__KEY_FILE=config_test.go"}, "https://localhost:8443", true},
		{"an explicit issuer is kept", []string{"LATCHKEY_LISTEN=127.0.0.1:8084", "LATCHKEY_ISSUER=https://auth.example.com"}, "https://auth.example.com", false},
		{"an explicit issuer equal to the default is kept as explicit", []string{"LATCHKEY_LISTEN=127.0.0.1:8084", "LATCHKEY_ISSUER=http://localhost:8080"}, "http://localhost:8080", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("", tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != tt.want || c.IssuerDerived != tt.derived {
				t.Errorf("issuer = %q (derived %v), want %q (derived %v)", c.Issuer, c.IssuerDerived, tt.want, tt.derived)
			}
		})
	}
	t.Run("an issuer in the file is kept", func(t *testing.T) {
		path := writeFile(t, "latchkey.yaml", "listen: 127.0.0.1:9002\nissuer: https://id.example.com\n")
		c, err := Load(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if c.Issuer != "https://id.example.com" || c.IssuerDerived {
			t.Errorf("issuer = %q (derived %v)", c.Issuer, c.IssuerDerived)
		}
	})
	t.Run("a public listen host without an issuer is refused with the reason", func(t *testing.T) {
		_, err := Load("", []string{"LATCHKEY_LISTEN=192.0.2.10:8080"})
		if err == nil || !strings.Contains(err.Error(), "issuer:") || !strings.Contains(err.Error(), "http://192.0.2.10:8080") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestTheREADMEsMasterKeyVariableWorks(t *testing.T) {
	const key = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=" // openssl rand -base64 32 shape
	t.Run("LATCHKEY_MASTER_KEY sets keys.master_key", func(t *testing.T) {
		c, err := Load("", []string{"LATCHKEY_MASTER_KEY=" + key})
		if err != nil {
			t.Fatal(err)
		}
		if c.Keys.MasterKey != key {
			t.Errorf("keys.master_key = %q", c.Keys.MasterKey)
		}
	})
	t.Run("LATCHKEY_MASTER_KEY_FILE sets keys.master_key_file", func(t *testing.T) {
		c, err := Load("", []string{"LATCHKEY_MASTER_KEY_FILE=/run/secrets/master.key"})
		if err != nil {
			t.Fatal(err)
		}
		if c.MasterKeyPath() != "/run/secrets/master.key" {
			t.Errorf("master key path = %q", c.MasterKeyPath())
		}
	})
	t.Run("the same value under both names is fine", func(t *testing.T) {
		if _, err := Load("", []string{"LATCHKEY_MASTER_KEY=" + key, "LATCHKEY_KEYS__MASTER_KEY=" + key}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("different values under both names are refused", func(t *testing.T) {
		_, err := Load("", []string{"LATCHKEY_MASTER_KEY=" + key, "LATCHKEY_KEYS__MASTER_KEY=" + strings.Repeat("A", 43) + "="})
		if err == nil || !strings.Contains(err.Error(), "LATCHKEY_MASTER_KEY and LATCHKEY_KEYS__MASTER_KEY are both set") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), key) {
			t.Fatal("the error shows the key")
		}
	})
	t.Run("a bad key is reported by its key name", func(t *testing.T) {
		_, err := Load("", []string{"LATCHKEY_MASTER_KEY=short"})
		if err == nil || !strings.Contains(err.Error(), "keys.master_key:") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestUnknownBootstrapVariablesAreErrors(t *testing.T) {
	_, err := Load("", []string{"LATCHKEY_BOOTSTRAP_ADMIN_PASWORD=x"})
	if err == nil || !strings.Contains(err.Error(), "LATCHKEY_BOOTSTRAP_ADMIN_PASWORD: not a bootstrap variable") ||
		!strings.Contains(err.Error(), EnvBootstrapAdminPassword) {
		t.Fatalf("err = %v", err)
	}
	for _, name := range BootstrapEnv {
		if _, err := Load("", []string{name + "=x"}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestWrongTypesInTheFileNameTheirKey(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"tokens:\n  access_ttl: \"5 minutes\"\n", `FILE:2: tokens.access_ttl: "5 minutes" is not a duration`},
		{"http:\n  max_body_bytes: lots\n", `FILE:2: http.max_body_bytes: "lots" is not an integer`},
		{"insecure_http: maybe\n", `FILE:1: insecure_http: "maybe" is not a boolean`},
		{"trusted_proxies: 10.0.0.0/8\n", `FILE:1: trusted_proxies: must be a list`},
		{"log: debug\n", `FILE:1: log: must be a section of keys (a mapping), got "debug"`},
		{"rate_limit:\n  account: {failures: five}\n", `FILE:2: rate_limit.account.failures: "five" is not an integer`},
		{"backends:\n  - id: local\n    type: [local]\n", `FILE:3: backends[0].type: a list is not a string`},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			path := writeFile(t, "latchkey.yaml", tt.yaml)
			_, err := Load(path, nil)
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, want)
			}
			if strings.Contains(err.Error(), "unmarshal") {
				t.Errorf("yaml.v3's wording leaked: %v", err)
			}
		})
	}
}
