package config

import (
	"bytes"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// writeFile writes content to a new file in a temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantErr fails unless err is non-nil and contains every substring.
func wantErr(t *testing.T, err error, substrings ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", substrings)
	}
	for _, s := range substrings {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q\ndoes not contain %q", err, s)
		}
	}
}

// joined returns the errors inside an errors.Join result.
func joined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func TestDefaults(t *testing.T) {
	t.Run("defaults validate", func(t *testing.T) {
		c := Default()
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("loading with no file and no environment gives the defaults", func(t *testing.T) {
		c, err := Load("", nil)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c, loadedDefault()) {
			t.Errorf("Load(\"\", nil) = %+v\nwant %+v", c, loadedDefault())
		}
	})
	t.Run("each call to Default returns fresh slices", func(t *testing.T) {
		a := Default()
		a.Users.LoginFields[0] = "changed"
		a.Backends[0].ID = "changed"
		if b := Default(); b.Users.LoginFields[0] != "username" || b.Backends[0].ID != "local" {
			t.Errorf("Default() shares state between calls: %+v", b)
		}
	})
}

func TestAccessors(t *testing.T) {
	t.Run("paths default to files in data_dir", func(t *testing.T) {
		c := Default()
		c.DataDir = "/var/lib/latchkey"
		if got, want := c.SQLitePath(), "/var/lib/latchkey/latchkey.db"; got != want {
			t.Errorf("SQLitePath() = %q, want %q", got, want)
		}
		if got, want := c.MasterKeyPath(), "/var/lib/latchkey/master.key"; got != want {
			t.Errorf("MasterKeyPath() = %q, want %q", got, want)
		}
	})
	t.Run("explicit paths win over data_dir", func(t *testing.T) {
		c := Default()
		c.Storage.SQLite.Path = "/db/auth.db"
		c.Keys.MasterKeyFile = "/run/secrets/master"
		if got := c.SQLitePath(); got != "/db/auth.db" {
			t.Errorf("SQLitePath() = %q", got)
		}
		if got := c.MasterKeyPath(); got != "/run/secrets/master" {
			t.Errorf("MasterKeyPath() = %q", got)
		}
	})
	t.Run("the issuer is loopback only on localhost, 127.0.0.0/8 and ::1", func(t *testing.T) {
		for issuer, want := range map[string]bool{
			"http://localhost:8080":        true,
			"http://LOCALHOST":             true,
			"http://127.0.0.1:8080":        true,
			"http://127.9.9.9":             true,
			"http://[::1]:8080":            true,
			"https://localhost":            true,
			"https://auth.example.com":     false,
			"http://10.0.0.1":              false,
			"http://localhost.example.com": false,
			"http://[::2]":                 false,
			"not a url at all":             false,
		} {
			c := Config{Issuer: issuer}
			if got := c.IssuerIsLoopback(); got != want {
				t.Errorf("IssuerIsLoopback() for %q = %v, want %v", issuer, got, want)
			}
		}
	})
	t.Run("log levels map to slog levels", func(t *testing.T) {
		for level, want := range map[string]slog.Level{
			"debug": slog.LevelDebug,
			"info":  slog.LevelInfo,
			"warn":  slog.LevelWarn,
			"error": slog.LevelError,
			"":      slog.LevelInfo,
		} {
			c := Config{Log: Log{Level: level}}
			if got := c.SlogLevel(); got != want {
				t.Errorf("SlogLevel() for %q = %v, want %v", level, got, want)
			}
		}
	})
}

func TestLoadFile(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		environ []string
		check   func(t *testing.T, c Config)
		// wantErr are substrings of the error; FILE stands for the path.
		wantErr []string
	}{
		{
			name: "a file overrides defaults and keeps the rest",
			yaml: `
listen: 0.0.0.0:9000
issuer: https://auth.example.com
storage:
  driver: postgres
  postgres:
    dsn: postgres://latchkey@db/latchkey
tokens:
  access_ttl: 10m
users:
  login_fields: [email]
backends:
  - id: local
    type: local
  - id: corp
    type: ldap
    config:
      url: ldaps://ldap.example.com
`,
			check: func(t *testing.T, c Config) {
				want := Default()
				want.Listen = "0.0.0.0:9000"
				want.Issuer = "https://auth.example.com"
				want.Storage.Driver = "postgres"
				want.Storage.Postgres.DSN = "postgres://latchkey@db/latchkey"
				want.Tokens.AccessTTL = 10 * time.Minute
				want.Users.LoginFields = []string{"email"}
				want.Backends = c.Backends // checked below
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got  %+v\nwant %+v", c, want)
				}
				if len(c.Backends) != 2 || c.Backends[1].ID != "corp" || c.Backends[1].Config.Kind != yaml.MappingNode {
					t.Errorf("backends = %+v", c.Backends)
				}
			},
		},
		{
			name:  "an empty file keeps the defaults",
			yaml:  "",
			check: func(t *testing.T, c Config) { mustEqual(t, c, loadedDefault()) },
		},
		{
			name:  "a file of only comments keeps the defaults",
			yaml:  "# nothing here\n# yet\n",
			check: func(t *testing.T, c Config) { mustEqual(t, c, loadedDefault()) },
		},
		{
			name: "an empty list in the file replaces the default list",
			yaml: "backends: []\n",
			check: func(t *testing.T, c Config) {
				if len(c.Backends) != 0 {
					t.Errorf("backends = %+v, want none", c.Backends)
				}
			},
		},
		{
			name:    "an unknown key in the file is an error naming the key and line",
			yaml:    "listen: 127.0.0.1:8080\nstorage:\n  drivr: sqlite\n",
			wantErr: []string{`FILE:3: unknown key "storage.drivr"`},
		},
		{
			name:    "every unknown key in the file is reported",
			yaml:    "listn: x\ntokens:\n  access_tll: 1m\nlog:\n  level: info\n  colour: true\n",
			wantErr: []string{`FILE:1: unknown key "listn"`, `FILE:3: unknown key "tokens.access_tll"`, `FILE:6: unknown key "log.colour"`},
		},
		{
			name:    "an unknown key in a backend entry names the entry",
			yaml:    "backends:\n  - id: local\n    typ: local\n",
			wantErr: []string{`FILE:3: unknown key "backends[0].typ"`},
		},
		{
			name: "keys inside a backend's config block are the backend's business",
			yaml: "backends:\n  - id: local\n    type: local\n    config:\n      anything: goes\n",
			check: func(t *testing.T, c Config) {
				if c.Backends[0].Config.Kind != yaml.MappingNode {
					t.Errorf("config block not kept: %+v", c.Backends[0].Config)
				}
			},
		},
		{
			name:    "an unknown key merged from an anchor is found",
			yaml:    "x-common: &common\n  levle: debug\nlog:\n  <<: *common\n",
			wantErr: []string{`FILE:1: unknown key "x-common"`, `FILE:2: unknown key "log.levle"`},
		},
		{
			name:    "a value of the wrong type names the file and line",
			yaml:    "tokens:\n  access_ttl: soon\n",
			wantErr: []string{`FILE:2: tokens.access_ttl: "soon" is not a duration`},
		},
		{
			name:    "a YAML syntax error names the file and line",
			yaml:    "listen: 127.0.0.1:8080\nissuer: [unclosed\n",
			wantErr: []string{"FILE:"},
		},
		{
			name:    "two YAML documents are refused",
			yaml:    "listen: 127.0.0.1:8080\n---\nlisten: 127.0.0.1:9090\n",
			wantErr: []string{"FILE: expected a single YAML document"},
		},
		{
			name:    "the file is validated",
			yaml:    "storage:\n  driver: mysql\n",
			wantErr: []string{`storage.driver: must be "sqlite" or "postgres", got "mysql"`},
		},
		{
			name:    "the environment wins over the file",
			yaml:    "listen: 127.0.0.1:9000\nlog:\n  level: debug\n",
			environ: []string{"LATCHKEY_LISTEN=127.0.0.1:9999"},
			check: func(t *testing.T, c Config) {
				if c.Listen != "127.0.0.1:9999" || c.Log.Level != "debug" {
					t.Errorf("listen = %q, log.level = %q", c.Listen, c.Log.Level)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "latchkey.yaml", tt.yaml)
			c, err := Load(path, tt.environ)
			if tt.wantErr != nil {
				subs := make([]string, len(tt.wantErr))
				for i, s := range tt.wantErr {
					subs[i] = strings.ReplaceAll(s, "FILE", path)
				}
				wantErr(t, err, subs...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func mustEqual(t *testing.T, got, want Config) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestConfigPath(t *testing.T) {
	file := writeFile(t, "from-env.yaml", "listen: 127.0.0.1:7000\n")
	other := writeFile(t, "explicit.yaml", "listen: 127.0.0.1:7001\n")
	missing := filepath.Join(t.TempDir(), "missing.yaml")

	t.Run("LATCHKEY_CONFIG names the file when no path is given", func(t *testing.T) {
		c, err := Load("", []string{"LATCHKEY_CONFIG=" + file})
		if err != nil {
			t.Fatal(err)
		}
		if c.Listen != "127.0.0.1:7000" {
			t.Errorf("listen = %q", c.Listen)
		}
	})
	t.Run("an explicit path wins over LATCHKEY_CONFIG", func(t *testing.T) {
		c, err := Load(other, []string{"LATCHKEY_CONFIG=" + file})
		if err != nil {
			t.Fatal(err)
		}
		if c.Listen != "127.0.0.1:7001" {
			t.Errorf("listen = %q", c.Listen)
		}
	})
	t.Run("an empty LATCHKEY_CONFIG means no file", func(t *testing.T) {
		if _, err := Load("", []string{"LATCHKEY_CONFIG="}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a missing file is an error naming it", func(t *testing.T) {
		_, err := Load(missing, nil)
		wantErr(t, err, missing)
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %v does not wrap os.ErrNotExist", err)
		}
	})
	t.Run("a missing file from LATCHKEY_CONFIG says where the name came from", func(t *testing.T) {
		_, err := Load("", []string{"LATCHKEY_CONFIG=" + missing})
		wantErr(t, err, missing, "LATCHKEY_CONFIG")
	})
}

// loadedDefault is what Load gives without a file or variables: the
// defaults, with the issuer derived from the default listen address.
func loadedDefault() Config {
	c := Default()
	c.IssuerDerived = true
	return c
}

func TestEnvOverrides(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		check   func(t *testing.T, c Config)
	}{
		{
			name:    "a top-level key is set",
			environ: []string{"LATCHKEY_LISTEN=0.0.0.0:9000"},
			check:   func(t *testing.T, c Config) { equal(t, c.Listen, "0.0.0.0:9000") },
		},
		{
			name: "nested keys are set with __ between levels",
			environ: []string{
				"LATCHKEY_STORAGE__DRIVER=postgres",
				"LATCHKEY_STORAGE__POSTGRES__DSN=postgres://u:p@db/latchkey?sslmode=disable",
			},
			check: func(t *testing.T, c Config) {
				equal(t, c.Storage.Driver, "postgres")
				equal(t, c.Storage.Postgres.DSN, "postgres://u:p@db/latchkey?sslmode=disable")
			},
		},
		{
			name:    "a duration is parsed",
			environ: []string{"LATCHKEY_TOKENS__ACCESS_TTL=10m", "LATCHKEY_KEYS__ROTATION_PERIOD=1h30m"},
			check: func(t *testing.T, c Config) {
				equal(t, c.Tokens.AccessTTL, 10*time.Minute)
				equal(t, c.Keys.RotationPeriod, 90*time.Minute)
			},
		},
		{
			name:    "a bool is set by true",
			environ: []string{"LATCHKEY_ISSUER=http://auth.internal:8080", "LATCHKEY_INSECURE_HTTP=true"},
			check:   func(t *testing.T, c Config) { equal(t, c.InsecureHTTP, true) },
		},
		{
			name:    "a bool is set by 1",
			environ: []string{"LATCHKEY_ISSUER=http://auth.internal:8080", "LATCHKEY_INSECURE_HTTP=1"},
			check:   func(t *testing.T, c Config) { equal(t, c.InsecureHTTP, true) },
		},
		{
			name:    "a bool is cleared by 0",
			environ: []string{"LATCHKEY_INSECURE_HTTP=0"},
			check:   func(t *testing.T, c Config) { equal(t, c.InsecureHTTP, false) },
		},
		{
			name:    "a list is comma-separated and trimmed",
			environ: []string{"LATCHKEY_TRUSTED_PROXIES=10.0.0.0/8, 127.0.0.1"},
			check: func(t *testing.T, c Config) {
				equal(t, c.TrustedProxies, []string{"10.0.0.0/8", "127.0.0.1"})
			},
		},
		{
			name:    "a list replaces the default list",
			environ: []string{"LATCHKEY_USERS__LOGIN_FIELDS=email"},
			check:   func(t *testing.T, c Config) { equal(t, c.Users.LoginFields, []string{"email"}) },
		},
		{
			name:    "an empty value is an empty list",
			environ: []string{"LATCHKEY_TOKENS__AUDIENCE="},
			check:   func(t *testing.T, c Config) { equal(t, len(c.Tokens.Audience), 0) },
		},
		{
			name:    "an int is parsed",
			environ: []string{"LATCHKEY_STORAGE__POSTGRES__MAX_CONNS=50"},
			check:   func(t *testing.T, c Config) { equal(t, c.Storage.Postgres.MaxConns, 50) },
		},
		{
			name:    "an int64 is parsed",
			environ: []string{"LATCHKEY_HTTP__MAX_BODY_BYTES=1048576"},
			check:   func(t *testing.T, c Config) { equal(t, c.HTTP.MaxBodyBytes, int64(1<<20)) },
		},
		{
			name:    "a value may contain =",
			environ: []string{"LATCHKEY_KEYS__MASTER_KEY=" + base64.StdEncoding.EncodeToString(make([]byte, 32))},
			check: func(t *testing.T, c Config) {
				equal(t, strings.HasSuffix(c.Keys.MasterKey, "="), true)
			},
		},
		{
			name:    "the last of repeated variables wins",
			environ: []string{"LATCHKEY_LOG__LEVEL=debug", "LATCHKEY_LOG__LEVEL=warn"},
			check:   func(t *testing.T, c Config) { equal(t, c.Log.Level, "warn") },
		},
		{
			name: "reserved and foreign variables are ignored",
			environ: []string{
				"LATCHKEY_CONFIG=",
				"LATCHKEY_BOOTSTRAP_ADMIN_PASSWORD=hunter2",
				"LATCHKEY_TEST_POSTGRES_DSN=postgres://test",
				"PATH=/usr/bin",
				"latchkey_listen=ignored",
				"NOEQUALSIGN",
			},
			check: func(t *testing.T, c Config) { mustEqual(t, c, loadedDefault()) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load("", tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func equal[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		want    []string
	}{
		{
			name:    "an unknown variable is an error naming it",
			environ: []string{"LATCHKEY_LISTN=0.0.0.0:80"},
			want:    []string{"LATCHKEY_LISTN:", `no configuration key "listn"`, "listen"},
		},
		{
			name:    "an unknown nested variable lists the keys of its section",
			environ: []string{"LATCHKEY_STORAGE__DRIVR=sqlite"},
			want:    []string{"LATCHKEY_STORAGE__DRIVR:", `"storage.drivr"`, "keys of storage: driver, sqlite, postgres, redis, tokens, timeout"},
		},
		{
			name:    "a single underscore does not separate levels",
			environ: []string{"LATCHKEY_STORAGE_DRIVER=sqlite"},
			want:    []string{"LATCHKEY_STORAGE_DRIVER:", "no configuration key"},
		},
		{
			name:    "the prefix alone names no key",
			environ: []string{"LATCHKEY_=x"},
			want:    []string{"LATCHKEY_: names no configuration key"},
		},
		{
			name:    "a bad duration is an error naming the variable and the type",
			environ: []string{"LATCHKEY_TOKENS__ACCESS_TTL=10"},
			want:    []string{"LATCHKEY_TOKENS__ACCESS_TTL:", `"10"`, "duration"},
		},
		{
			name:    "a bad bool is an error naming the variable and the type",
			environ: []string{"LATCHKEY_INSECURE_HTTP=yes"},
			want:    []string{"LATCHKEY_INSECURE_HTTP:", "bool"},
		},
		{
			name:    "a bad int is an error naming the variable and the type",
			environ: []string{"LATCHKEY_STORAGE__POSTGRES__MAX_CONNS=many"},
			want:    []string{"LATCHKEY_STORAGE__POSTGRES__MAX_CONNS:", "integer"},
		},
		{
			name:    "an int that overflows is an error",
			environ: []string{"LATCHKEY_HTTP__MAX_BODY_BYTES=99999999999999999999"},
			want:    []string{"LATCHKEY_HTTP__MAX_BODY_BYTES:", "integer"},
		},
		{
			name:    "a section cannot be set as a whole",
			environ: []string{"LATCHKEY_STORAGE=sqlite"},
			want:    []string{"LATCHKEY_STORAGE: storage is a section", "LATCHKEY_STORAGE__DRIVER"},
		},
		{
			name:    "a key below a scalar does not exist",
			environ: []string{"LATCHKEY_LISTEN__PORT=80"},
			want:    []string{"LATCHKEY_LISTEN__PORT:", "listen is not a section"},
		},
		{
			name:    "backends cannot be set from the environment",
			environ: []string{"LATCHKEY_BACKENDS=local"},
			want:    []string{"LATCHKEY_BACKENDS:", "cannot be set from the environment", "config file"},
		},
		{
			name:    "nor can anything inside backends",
			environ: []string{"LATCHKEY_BACKENDS__0__ID=corp"},
			want:    []string{"LATCHKEY_BACKENDS__0__ID:", "cannot be set from the environment"},
		},
		{
			name:    "every bad variable is reported",
			environ: []string{"LATCHKEY_NOPE=1", "LATCHKEY_LOG__LEVEL=debug", "LATCHKEY_TOKENS__ID_TOKEN_TTL=forever"},
			want:    []string{"LATCHKEY_NOPE:", "LATCHKEY_TOKENS__ID_TOKEN_TTL:"},
		},
		{
			name:    "overrides are validated",
			environ: []string{"LATCHKEY_LOG__FORMAT=xml"},
			want:    []string{`log.format: must be "json" or "text", got "xml"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load("", tt.environ)
			wantErr(t, err, tt.want...)
		})
	}
}

// envTarget has one field of each kind applyEnv handles, to show that the
// overrides follow the yaml tags of any struct, not a list of Config fields.
type envTarget struct {
	Name  string `yaml:"name"`
	Inner struct {
		Count uint16  `yaml:"count"`
		Ratio float64 `yaml:"ratio"`
	} `yaml:"inner"`
	Ptr *struct {
		On *bool `yaml:"on"`
	} `yaml:"ptr"`
	envEmbedded `yaml:",inline"`
	Prefix      netip.Prefix      `yaml:"prefix"`
	Ports       []int             `yaml:"ports"`
	Waits       []time.Duration   `yaml:"waits"`
	Node        yaml.Node         `yaml:"node"`
	Labels      map[string]string `yaml:"labels"`
	Untagged    string
	Skipped     string `yaml:"-"`
	Dashed      string `yaml:"dashed-key,omitempty"`
}

type envEmbedded struct {
	Extra string `yaml:"extra"`
}

func TestEnvFollowsYAMLTags(t *testing.T) {
	t.Run("new fields of any supported type work without further code", func(t *testing.T) {
		var got envTarget
		err := applyEnv(&got, []string{
			"LATCHKEY_NAME=n",
			"LATCHKEY_INNER__COUNT=7",
			"LATCHKEY_INNER__RATIO=0.5",
			"LATCHKEY_PTR__ON=true",
			"LATCHKEY_EXTRA=inlined",
			"LATCHKEY_PREFIX=10.0.0.0/8",
			"LATCHKEY_PORTS=80,443",
			"LATCHKEY_WAITS=1s,2m",
			"LATCHKEY_UNTAGGED=u",
			"LATCHKEY_DASHED_KEY=d",
		})
		if err != nil {
			t.Fatal(err)
		}
		equal(t, got.Name, "n")
		equal(t, got.Inner.Count, uint16(7))
		equal(t, got.Inner.Ratio, 0.5)
		if got.Ptr == nil || got.Ptr.On == nil || !*got.Ptr.On {
			t.Errorf("ptr.on not set: %+v", got.Ptr)
		}
		equal(t, got.Extra, "inlined")
		equal(t, got.Prefix, netip.MustParsePrefix("10.0.0.0/8"))
		equal(t, got.Ports, []int{80, 443})
		equal(t, got.Waits, []time.Duration{time.Second, 2 * time.Minute})
		equal(t, got.Untagged, "u")
		equal(t, got.Dashed, "d")
	})
	for _, tt := range []struct {
		name string
		env  string
		want []string
	}{
		{"a yaml.Node field cannot be set", "LATCHKEY_NODE=x", []string{"LATCHKEY_NODE:", "free-form YAML", "cannot be set from the environment"}},
		{"a map field cannot be set", "LATCHKEY_LABELS=a", []string{"LATCHKEY_LABELS:", "map"}},
		{"a field tagged - has no key", "LATCHKEY_SKIPPED=x", []string{"LATCHKEY_SKIPPED:", "no configuration key"}},
		{"a bad list item names its position", "LATCHKEY_PORTS=80,http", []string{"LATCHKEY_PORTS:", "item 2", "integer"}},
		{"a negative uint is refused", "LATCHKEY_INNER__COUNT=-1", []string{"LATCHKEY_INNER__COUNT:", "non-negative integer"}},
		{"a text unmarshaler's error is reported", "LATCHKEY_PREFIX=10.0.0.0", []string{"LATCHKEY_PREFIX:", "netip.Prefix"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got envTarget
			wantErr(t, applyEnv(&got, []string{tt.env}), tt.want...)
		})
	}
}

func TestIssuer(t *testing.T) {
	tests := []struct {
		issuer   string
		insecure bool
		want     string // substring of the error; "" means valid
	}{
		{"http://localhost:8080", false, ""},
		{"http://127.0.0.1:8080", false, ""},
		{"http://127.1.2.3", false, ""},
		{"http://[::1]:8080", false, ""},
		{"https://auth.example.com", false, ""},
		{"https://auth.example.com:8443/tenants/acme", false, ""},
		{"http://auth.example.com", false, "clear text"},
		{"http://auth.example.com", true, ""},
		{"http://10.0.0.1:8080", false, "insecure_http: true"},
		{"http://localhost.example.com", false, "clear text"},
		{"", false, "issuer: must be set"},
		{"auth.example.com", false, "issuer: must be an absolute URL"},
		{"/oauth", false, "issuer: must be an absolute URL"},
		{"https://", false, "issuer: must be an absolute URL"},
		{"ftp://auth.example.com", false, `issuer: scheme must be https or http, got "ftp"`},
		{"https://auth.example.com/", false, "issuer: must not end with a slash"},
		{"https://auth.example.com?tenant=1", false, "issuer: must not have a query"},
		{"https://auth.example.com?", false, "issuer: must not have a query"},
		{"https://auth.example.com#top", false, "issuer: must not have a fragment"},
		{"https://admin:pw@auth.example.com", false, "issuer: must not contain a user name"},
	}
	for _, tt := range tests {
		name := "issuer " + tt.issuer
		switch {
		case tt.want == "" && tt.insecure:
			name += " is allowed with insecure_http"
		case tt.want == "":
			name += " is fine"
		default:
			name += " is refused"
		}
		t.Run(name, func(t *testing.T) {
			c := Default()
			c.Issuer, c.InsecureHTTP = tt.issuer, tt.insecure
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
	t.Run("the clear text refusal explains how to allow it", func(t *testing.T) {
		c := Default()
		c.Issuer = "http://auth.example.com"
		wantErr(t, c.Validate(), `issuer: "http://auth.example.com" uses http`, "clear text", "use https", "insecure_http: true", "LATCHKEY_INSECURE_HTTP=true")
	})
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	cert := filepath.Join(dir, "cert.pem")
	key := filepath.Join(dir, "key.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.pem")
	key32 := bytes.Repeat([]byte{0xfb, 0xff}, 16) // encodes with + and / (or - and _)

	tests := []struct {
		name   string
		mutate func(c *Config)
		want   string // substring of the error; "" means valid
	}{
		{"listen on every interface is fine", func(c *Config) { c.Listen = ":8080" }, ""},
		{"listen on an IPv6 address is fine", func(c *Config) { c.Listen = "[::1]:8080" }, ""},
		{"listen without a port is refused", func(c *Config) { c.Listen = "localhost" }, `listen: must be host:port`},
		{"an empty listen is refused", func(c *Config) { c.Listen = "" }, `listen: must be host:port`},
		{"listen with a named port is refused", func(c *Config) { c.Listen = "localhost:http" }, `listen: port must be a number from 0 to 65535, got "http"`},
		{"listen with a port out of range is refused", func(c *Config) { c.Listen = "localhost:70000" }, `listen: port must be a number`},
		{"an admin listener is fine", func(c *Config) { c.Admin.Listen = "127.0.0.1:9090" }, ""},
		{"an admin listener without a port is refused", func(c *Config) { c.Admin.Listen = "9090" }, `admin.listen: must be host:port`},

		{"tls with both files is fine", func(c *Config) { c.TLS = TLS{CertFile: cert, KeyFile: key} }, ""},
		{"tls with only a certificate is refused", func(c *Config) { c.TLS.CertFile = cert }, "tls.key_file: must be set when tls.cert_file is set"},
		{"tls with only a key is refused", func(c *Config) { c.TLS.KeyFile = key }, "tls.cert_file: must be set when tls.key_file is set"},
		{"a tls file that does not exist is refused", func(c *Config) { c.TLS = TLS{CertFile: missing, KeyFile: key} }, `tls.cert_file: file "` + missing + `" does not exist`},
		{"a tls file that is a directory is refused", func(c *Config) { c.TLS = TLS{CertFile: cert, KeyFile: dir} }, "tls.key_file: " + `"` + dir + `" is a directory`},

		{"trusted proxies as IPs and CIDRs are fine", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "127.0.0.1", "::1", "fd00::/8"} }, ""},
		{"a trusted proxy that is a name is refused", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/8", "proxy.local"} }, `trusted_proxies[1]: must be an IP address or CIDR (e.g. 10.0.0.0/8), got "proxy.local"`},
		{"a trusted proxy with a bad prefix length is refused", func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/33"} }, `trusted_proxies[0]: must be an IP address or CIDR`},

		{"postgres with a dsn is fine", func(c *Config) { c.Storage.Driver, c.Storage.Postgres.DSN = "postgres", "postgres://db/latchkey" }, ""},
		{"an unknown storage driver is refused", func(c *Config) { c.Storage.Driver = "mysql" }, `storage.driver: must be "sqlite" or "postgres", got "mysql"`},
		{"postgres without a dsn is refused", func(c *Config) { c.Storage.Driver = "postgres" }, `storage.postgres.dsn: is required when storage.driver is "postgres"`},
		{"a zero storage timeout is refused", func(c *Config) { c.Storage.Timeout = 0 }, "storage.timeout: must be greater than 0, got 0s"},
		{"a negative connection limit is refused", func(c *Config) { c.Storage.Postgres.MaxConns = -1 }, "storage.postgres.max_conns: must not be negative"},

		{"RS256 is fine", func(c *Config) { c.Keys.Algorithm = "RS256" }, ""},
		{"EdDSA is fine", func(c *Config) { c.Keys.Algorithm = "EdDSA" }, ""},
		{"an unknown algorithm is refused", func(c *Config) { c.Keys.Algorithm = "HS256" }, `keys.algorithm: must be "ES256", "RS256" or "EdDSA", got "HS256"`},
		{"a master key in standard base64 is fine", func(c *Config) { c.Keys.MasterKey = base64.StdEncoding.EncodeToString(key32) }, ""},
		{"a master key in URL base64 is fine", func(c *Config) { c.Keys.MasterKey = base64.URLEncoding.EncodeToString(key32) }, ""},
		{"a master key in unpadded standard base64 is fine", func(c *Config) { c.Keys.MasterKey = base64.RawStdEncoding.EncodeToString(key32) }, ""},
		{"a master key in unpadded URL base64 is fine", func(c *Config) { c.Keys.MasterKey = base64.RawURLEncoding.EncodeToString(key32) }, ""},
		{"a master key that is not base64 is refused", func(c *Config) { c.Keys.MasterKey = "not base64!" }, "keys.master_key: must be base64"},
		{"a master key of 16 bytes is refused", func(c *Config) { c.Keys.MasterKey = base64.StdEncoding.EncodeToString(key32[:16]) }, "keys.master_key: must be base64 of exactly 32 bytes, got 16 bytes"},
		{"a rotation period of 1h is fine", func(c *Config) { c.Keys.RotationPeriod = time.Hour }, ""},
		{"a rotation period under 1h is refused", func(c *Config) { c.Keys.RotationPeriod = 30 * time.Minute }, "keys.rotation_period: must be 0 (rotate only on demand) or at least 1h, got 30m0s"},
		{"a negative rotation period is refused", func(c *Config) { c.Keys.RotationPeriod = -time.Hour }, "keys.rotation_period: must be 0"},
		{"a negative key cache ttl is refused", func(c *Config) { c.Keys.CacheTTL = -time.Second }, "keys.cache_ttl: must not be negative"},

		{"a zero access ttl is refused", func(c *Config) { c.Tokens.AccessTTL = 0 }, "tokens.access_ttl: must be greater than 0"},
		{"a zero refresh ttl is refused", func(c *Config) { c.Tokens.RefreshTTL = 0 }, "tokens.refresh_ttl: must be greater than 0"},
		{"a negative refresh reuse grace is refused", func(c *Config) { c.Tokens.RefreshReuseGrace = -time.Second }, "tokens.refresh_reuse_grace: must be 0s to 5m0s, got -1s"},
		{"a refresh reuse grace above 5m is refused", func(c *Config) { c.Tokens.RefreshReuseGrace = time.Hour }, "tokens.refresh_reuse_grace: must be 0s to 5m0s, got 1h0m0s"},
		{"a negative refresh max ttl is refused", func(c *Config) { c.Tokens.RefreshMaxTTL = -time.Hour }, "tokens.refresh_max_ttl: must be greater than 0"},
		{"a zero id token ttl is refused", func(c *Config) { c.Tokens.IDTokenTTL = 0 }, "tokens.id_token_ttl: must be greater than 0"},
		{"a refresh ttl equal to its maximum is fine", func(c *Config) { c.Tokens.RefreshTTL = c.Tokens.RefreshMaxTTL }, ""},
		{"a refresh ttl above its maximum is refused", func(c *Config) { c.Tokens.RefreshTTL = 31 * 24 * time.Hour }, "tokens.refresh_ttl: must not exceed tokens.refresh_max_ttl (720h0m0s), got 744h0m0s"},
		{"an empty audience entry is refused", func(c *Config) { c.Tokens.Audience = []string{"api", ""} }, "tokens.audience[1]: must not be empty"},
		{"a negative client cache ttl is refused", func(c *Config) { c.Tokens.ClientCacheTTL = -time.Second }, "tokens.client_cache_ttl: must not be negative"},

		{"a resource with scopes and a lifetime is fine", func(c *Config) {
			c.Resources = []Resource{{URI: "https://mcp.example.com/mcp", Scopes: []string{"tools:read"}, AccessTTL: 10 * time.Minute}, {URI: "urn:example:api"}}
		}, ""},
		{"a resource without uri is refused", func(c *Config) { c.Resources = []Resource{{}} }, "resources[0].uri: required"},
		{"a relative resource uri is refused", func(c *Config) { c.Resources = []Resource{{URI: "/mcp"}} }, `resources[0].uri: must be an absolute URI such as https://api.example.com/, got "/mcp"`},
		{"a resource uri with a fragment is refused", func(c *Config) { c.Resources = []Resource{{URI: "https://api.example.com/#x"}} }, "resources[0].uri: must not have a fragment (RFC 8707 §2)"},
		{"an https resource uri without host is refused", func(c *Config) { c.Resources = []Resource{{URI: "https:///api"}} }, "resources[0].uri: must name a host"},
		{"a resource listed twice is refused", func(c *Config) {
			c.Resources = []Resource{{URI: "https://api.example.com/"}, {URI: "https://api.example.com/"}}
		}, `resources[1].uri: "https://api.example.com/" is listed twice`},
		{"a resource scope with a space is refused", func(c *Config) {
			c.Resources = []Resource{{URI: "https://api.example.com/", Scopes: []string{"ok", "a b"}}}
		}, "resources[0].scopes[1]: must be a scope token"},
		{"a negative resource lifetime is refused", func(c *Config) {
			c.Resources = []Resource{{URI: "https://api.example.com/", AccessTTL: -time.Second}}
		}, "resources[0].access_ttl: must be 0s (the default lifetime) to 24h0m0s, got -1s"},
		{"a resource lifetime above a day is refused", func(c *Config) {
			c.Resources = []Resource{{URI: "https://api.example.com/", AccessTTL: 25 * time.Hour}}
		}, "resources[0].access_ttl: must be 0s (the default lifetime) to 24h0m0s, got 25h0m0s"},

		{"login by email only is fine", func(c *Config) { c.Users.LoginFields = []string{"email"} }, ""},
		{"no login fields is refused", func(c *Config) { c.Users.LoginFields = nil }, "users.login_fields: must list at least one"},
		{"an unknown login field is refused", func(c *Config) { c.Users.LoginFields = []string{"phone"} }, `users.login_fields[0]: must be "username" or "email", got "phone"`},
		{"a repeated login field is refused", func(c *Config) { c.Users.LoginFields = []string{"email", "email"} }, `users.login_fields[1]: "email" is already listed at users.login_fields[0]`},
		{"closed registration is fine", func(c *Config) { c.Users.Registration = "closed" }, ""},
		{"an unknown registration mode is refused", func(c *Config) { c.Users.Registration = "invite" }, `users.registration: must be "open", "activation" or "closed", got "invite"`},

		{"several backends with good ids are fine", func(c *Config) {
			c.Backends = append(c.Backends, Backend{ID: "corp_ldap-2", Type: "ldap"}, Backend{ID: "0day", Type: "x"})
		}, ""},
		{"no backends at all is fine", func(c *Config) { c.Backends = nil }, ""},
		{"a backend without an id is refused", func(c *Config) { c.Backends[0].ID = "" }, "backends[0].id: is required"},
		{"a backend without a type is refused", func(c *Config) { c.Backends[0].Type = "" }, "backends[0].type: is required"},
		{"on_wrong_password next is accepted", func(c *Config) { c.Backends[0].OnWrongPassword = "next" }, ""},
		{"an unknown on_wrong_password is refused", func(c *Config) { c.Backends[0].OnWrongPassword = "retry" }, `backends[0].on_wrong_password: must be "stop" or "next"`},
		{"a repeated backend id is refused", func(c *Config) { c.Backends = append(c.Backends, Backend{ID: "local", Type: "ldap"}) }, `backends[1].id: "local" is already used by backends[0]`},
		{"a backend id in capitals is refused", func(c *Config) { c.Backends[0].ID = "Corp" }, `backends[0].id: must match ^[a-z0-9][a-z0-9_-]*$, got "Corp"`},
		{"a backend id starting with a dash is refused", func(c *Config) { c.Backends[0].ID = "-corp" }, `backends[0].id: must match`},
		{"a backend id with a space is refused", func(c *Config) { c.Backends[0].ID = "my corp" }, `backends[0].id: must match`},

		{"log level debug is fine", func(c *Config) { c.Log.Level = "debug" }, ""},
		{"text logs are fine", func(c *Config) { c.Log.Format = "text" }, ""},
		{"an unknown log level is refused", func(c *Config) { c.Log.Level = "verbose" }, `log.level: must be "debug", "info", "warn" or "error", got "verbose"`},
		{"an unknown log format is refused", func(c *Config) { c.Log.Format = "xml" }, `log.format: must be "json" or "text", got "xml"`},

		{"a zero body limit is refused", func(c *Config) { c.HTTP.MaxBodyBytes = 0 }, "http.max_body_bytes: must be greater than 0, got 0"},
		{"zero server timeouts are fine", func(c *Config) { c.HTTP.ReadTimeout, c.HTTP.WriteTimeout = 0, 0 }, ""},
		{"a negative server timeout is refused", func(c *Config) { c.HTTP.ShutdownTimeout = -time.Second }, "http.shutdown_timeout: must not be negative"},
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
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Errorf("error %v holds no *FieldError", err)
			}
		})
	}
}

func TestValidateReportsEverything(t *testing.T) {
	t.Run("several problems are reported together, in key order", func(t *testing.T) {
		c := Default()
		c.Issuer = "http://auth.example.com"
		c.Storage.Driver = "mysql"
		c.Tokens.AccessTTL = 0
		c.Log.Format = "xml"
		err := c.Validate()
		errs := joined(err)
		if len(errs) != 4 {
			t.Fatalf("got %d problems, want 4:\n%v", len(errs), err)
		}
		wantKeys := []string{"issuer", "storage.driver", "tokens.access_ttl", "log.format"}
		for i, e := range errs {
			var fe *FieldError
			if !errors.As(e, &fe) {
				t.Fatalf("problem %d is %T, want *FieldError", i, e)
			}
			if fe.Key != wantKeys[i] {
				t.Errorf("problem %d is about %q, want %q", i, fe.Key, wantKeys[i])
			}
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[1], "storage.driver: ") {
			t.Errorf("error text is not one problem a line:\n%v", err)
		}
	})
	t.Run("a bad master key is never echoed", func(t *testing.T) {
		for _, secret := range []string{"c2VjcmV0LWJ1dC1zaG9ydA==", "s3cr3t not base64"} {
			c := Default()
			c.Keys.MasterKey = secret
			err := c.Validate()
			wantErr(t, err, "keys.master_key:")
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q contains the key", err)
			}
		}
	})
	t.Run("DecodeMasterKey returns the 32 bytes", func(t *testing.T) {
		want := bytes.Repeat([]byte{0xfb, 0xff}, 16)
		got, err := DecodeMasterKey(" " + base64.RawURLEncoding.EncodeToString(want) + "\n")
		if err != nil {
			t.Fatal(err)
		}
		equal(t, got, want)
	})
}

func TestExample(t *testing.T) {
	t.Run("the example loads without error and equals Default()", func(t *testing.T) {
		path := writeFile(t, "latchkey.yaml", Example())
		c, err := Load(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		normalizeSlices(reflect.ValueOf(&c).Elem())
		mustEqual(t, c, Default())
	})
	t.Run("the example alone, over an empty config, gives every default", func(t *testing.T) {
		// Decoding over a zero Config (not over Default()) proves that every
		// non-zero default is written in the example, at the right value.
		var c Config
		if err := decodeYAML("example", []byte(Example()), &c); err != nil {
			t.Fatal(err)
		}
		normalizeSlices(reflect.ValueOf(&c).Elem())
		mustEqual(t, c, Default())
	})
	t.Run("the example shows every key", func(t *testing.T) {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(Example()), &doc); err != nil {
			t.Fatal(err)
		}
		for _, key := range missingKeys(doc.Content[0], reflect.TypeFor[Config](), "") {
			t.Errorf("the example lacks %s", key)
		}
	})
}

// commentedLists are lists of sections that are empty by default: the
// example shows their entries in a comment, which the example test checks
// separately (TestExampleShowsResources).
var commentedLists = map[string]bool{"resources": true}

// missingKeys lists the keys of struct type t that mapping n lacks, looking
// into sections and into the first item of lists of sections. yaml.Node
// fields (free-form blocks) are not required.
func missingKeys(n *yaml.Node, t reflect.Type, path string) []string {
	var missing []string
	present := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		present[n.Content[i].Value] = n.Content[i+1]
	}
	for _, f := range structFields(t).fields {
		key := joinKey(path, f.key)
		if isNode(f.typ) {
			continue
		}
		val, ok := present[f.key]
		if !ok {
			missing = append(missing, key)
			continue
		}
		switch ft := derefType(f.typ); {
		case isSection(ft):
			missing = append(missing, missingKeys(val, ft, key)...)
		case ft.Kind() == reflect.Slice && isSection(ft.Elem()):
			if len(val.Content) == 0 {
				if !commentedLists[key] {
					missing = append(missing, key+"[0]")
				}
				continue
			}
			missing = append(missing, missingKeys(val.Content[0], derefType(ft.Elem()), key+"[0]")...)
		}
	}
	return missing
}

// normalizeSlices turns empty slices into nil ones: `key: []` in YAML and an
// unset slice in Go mean the same.
func normalizeSlices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				normalizeSlices(v.Field(i))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			normalizeSlices(v.Elem())
		}
	case reflect.Slice:
		if v.Len() == 0 {
			if !v.IsNil() && v.CanSet() {
				v.Set(reflect.Zero(v.Type()))
			}
			return
		}
		for i := range v.Len() {
			normalizeSlices(v.Index(i))
		}
	}
}

// ldapConfig stands for a backend's config type.
type ldapConfig struct {
	URL     string        `yaml:"url"`
	Timeout time.Duration `yaml:"timeout"`
	TLS     struct {
		CA string `yaml:"ca"`
	} `yaml:"tls"`
	Groups []struct {
		Name string `yaml:"name"`
	} `yaml:"groups"`
}

// openConfig keeps keys it has no field for.
type openConfig struct {
	Name string         `yaml:"name"`
	Rest map[string]any `yaml:",inline"`
}

// selfDecoding decodes itself and accepts any mapping.
type selfDecoding struct{ keys int }

func (s *selfDecoding) UnmarshalYAML(n *yaml.Node) error {
	s.keys = len(n.Content) / 2
	return nil
}

// backendFrom loads a config file holding one backend and returns it.
func backendFrom(t *testing.T, block string) Backend {
	t.Helper()
	path := writeFile(t, "latchkey.yaml", "backends:\n  - id: corp\n    type: ldap\n    config:\n"+block)
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Backends[0]
}

func TestBackendDecode(t *testing.T) {
	t.Run("a backend without a config block decodes nothing", func(t *testing.T) {
		v := ldapConfig{URL: "kept"}
		if err := (Backend{ID: "local", Type: "local"}).Decode(&v); err != nil {
			t.Fatal(err)
		}
		equal(t, v.URL, "kept")
	})
	t.Run("known keys are decoded", func(t *testing.T) {
		b := backendFrom(t, "      url: ldaps://ldap.example.com\n      timeout: 3s\n      tls:\n        ca: /etc/ca.pem\n      groups:\n        - name: admins\n")
		var v ldapConfig
		if err := b.Decode(&v); err != nil {
			t.Fatal(err)
		}
		equal(t, v.URL, "ldaps://ldap.example.com")
		equal(t, v.Timeout, 3*time.Second)
		equal(t, v.TLS.CA, "/etc/ca.pem")
		equal(t, len(v.Groups), 1)
	})
	t.Run("a null config block decodes nothing", func(t *testing.T) {
		b := backendFrom(t, "")
		if err := b.Decode(&ldapConfig{}); err != nil {
			t.Fatal(err)
		}
	})
	for _, tt := range []struct {
		name  string
		block string
		into  any
		want  []string
	}{
		{"an unknown key is an error naming it and its line in the file", "      url: x\n      urll: y\n", &ldapConfig{}, []string{`line 6: unknown key "urll"`}},
		{"a nested unknown key is named by its path", "      tls:\n        cafile: x\n", &ldapConfig{}, []string{`line 6: unknown key "tls.cafile"`}},
		{"an unknown key in a list item is named by its index", "      groups:\n        - name: a\n        - nam: b\n", &ldapConfig{}, []string{`line 7: unknown key "groups[1].nam"`}},
		{"every unknown key is reported", "      a: 1\n      b: 2\n", &ldapConfig{}, []string{`line 5: unknown key "a"`, `line 6: unknown key "b"`}},
		{"a value of the wrong type names its line", "      timeout: soon\n", &ldapConfig{}, []string{`line 5: timeout: "soon" is not a duration`}},
		{"a non-pointer target is refused", "      url: x\n", ldapConfig{}, []string{"non-nil pointer"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, backendFrom(t, tt.block).Decode(tt.into), tt.want...)
		})
	}
	t.Run("an inline map takes the keys that are not fields", func(t *testing.T) {
		var v openConfig
		if err := backendFrom(t, "      name: n\n      other: 1\n").Decode(&v); err != nil {
			t.Fatal(err)
		}
		equal(t, v.Rest["other"], any(1))
	})
	t.Run("a type with its own UnmarshalYAML takes any key", func(t *testing.T) {
		var v selfDecoding
		if err := backendFrom(t, "      whatever: 1\n      else: 2\n").Decode(&v); err != nil {
			t.Fatal(err)
		}
		equal(t, v.keys, 2)
	})
	t.Run("keys merged from an anchor are checked too", func(t *testing.T) {
		var doc struct {
			Backends []Backend `yaml:"backends"`
		}
		src := "base: &base\n  url: x\n  urll: y\nbackends:\n  - id: corp\n    type: ldap\n    config:\n      <<: *base\n"
		if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
			t.Fatal(err)
		}
		wantErr(t, doc.Backends[0].Decode(&ldapConfig{}), `line 3: unknown key "urll"`)
	})
}

func TestExampleShowsResources(t *testing.T) {
	// resources: is empty by default, so its entry is a comment: every key
	// of Resource must appear in it.
	ex := Example()
	i := strings.Index(ex, "\nresources: []")
	if i < 0 {
		t.Fatal("the example has no resources: [] line")
	}
	block := ex[strings.LastIndex(ex[:i], "\n\n")+1 : i]
	for _, f := range structFields(reflect.TypeFor[Resource]()).fields {
		if !strings.Contains(block, f.key+":") {
			t.Errorf("the example's resources comment lacks %s", f.key)
		}
	}
}
