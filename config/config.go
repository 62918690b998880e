// Package config holds latchkey's typed configuration: a YAML file
// (latchkey.yaml), LATCHKEY_* environment overrides and defaults that need no
// file at all.
package config

import (
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration. A zero value field means "the default"
// wherever that is possible; Default() fills in the rest.
type Config struct {
	// Listen is the address of the HTTP listener.
	Listen string `yaml:"listen"`
	// Issuer is the public base URL: the `iss` of every token. Load derives
	// it from Listen when it is not set (IssuerFromListen).
	Issuer string `yaml:"issuer"`
	// IssuerDerived is true when Load derived the issuer from Listen.
	IssuerDerived bool `yaml:"-"`
	// InsecureHTTP allows an issuer that is neither https nor loopback.
	InsecureHTTP bool `yaml:"insecure_http"`
	// DataDir holds the embedded database and the master key.
	DataDir string `yaml:"data_dir"`
	// TrustedProxies are the addresses or CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string  `yaml:"trusted_proxies"`
	TLS            TLS       `yaml:"tls"`
	Admin          Admin     `yaml:"admin"`
	Storage        Storage   `yaml:"storage"`
	Keys           Keys      `yaml:"keys"`
	Tokens         Tokens    `yaml:"tokens"`
	Users          Users     `yaml:"users"`
	Backends       []Backend `yaml:"backends"`
	RateLimit      RateLimit `yaml:"rate_limit"`
	Log            Log       `yaml:"log"`
	HTTP           HTTP      `yaml:"http"`
	Mail           Mail      `yaml:"mail"`
	UI             UI        `yaml:"ui"`
	Sessions       Sessions  `yaml:"sessions"`
	Audit          Audit     `yaml:"audit"`
	Metrics        Metrics   `yaml:"metrics"`
	// Permissions configures the permission mapper (groups, scopes, claims).
	Permissions Permissions `yaml:"permissions"`
	OAuth2      OAuth2      `yaml:"oauth2"`
	// Resources are the protected resources clients may ask tokens for
	// with the resource parameter (RFC 8707, docs/resources.md).
	Resources []Resource `yaml:"resources"`
}

// Metrics configures /metrics.
type Metrics struct {
	// Listen serves /metrics on its own address and not on listen (nor on
	// admin.listen); empty serves it beside the API.
	Listen string `yaml:"listen"`
	// Token, when set, is the bearer token /metrics requires
	// (Authorization: Bearer <token>); TokenFile reads it from a file
	// (trailing newline trimmed). Token wins.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
}

// Audit configures the audit events (docs/operations.md).
type Audit struct {
	// Retention is how long stored events are kept; older ones are purged.
	Retention time.Duration `yaml:"retention"`
}

// TLS serves HTTPS directly when both files are set.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Admin configures the admin API.
type Admin struct {
	// Listen puts the admin API on its own listener; empty shares Listen.
	Listen string `yaml:"listen"`
}

// Storage selects where durable data lives.
type Storage struct {
	// Driver is "sqlite" (embedded default) or "postgres".
	Driver   string   `yaml:"driver"`
	SQLite   SQLite   `yaml:"sqlite"`
	Postgres Postgres `yaml:"postgres"`
	// Redis holds tokens, revocations, one-time codes, login state and rate
	// limit counters in production; unset (no url, no addrs) means none.
	Redis Redis `yaml:"redis"`
	// Tokens selects where refresh tokens, revocations, one-time codes and
	// login state live: "auto" (Redis when configured, else the database),
	// "sql" or "redis".
	Tokens string `yaml:"tokens"`
	// Timeout bounds every store call.
	Timeout time.Duration `yaml:"timeout"`
}

// SQLite is the embedded database.
type SQLite struct {
	// Path of the database file; default <data_dir>/latchkey.db.
	Path string `yaml:"path"`
}

// Postgres is the production database.
type Postgres struct {
	DSN      string `yaml:"dsn"`
	MaxConns int    `yaml:"max_conns"`
}

// Keys configures token signing.
type Keys struct {
	// Algorithm of new signing keys: ES256 (default), RS256 or EdDSA.
	Algorithm string `yaml:"algorithm"`
	// MasterKey (base64, 32 bytes) encrypts private keys at rest and keys the
	// token hashes. It wins over MasterKeyFile.
	MasterKey string `yaml:"master_key"`
	// MasterKeyFile is created with a random key (mode 0600) when missing;
	// default <data_dir>/master.key.
	MasterKeyFile string `yaml:"master_key_file"`
	// RotationPeriod rotates the signing key automatically; 0 rotates only
	// on `latchkey keys rotate`.
	RotationPeriod time.Duration `yaml:"rotation_period"`
	// CacheTTL is how long an instance trusts its cached key set.
	CacheTTL time.Duration `yaml:"cache_ttl"`
}

// Tokens configures token lifetimes and formats.
type Tokens struct {
	AccessTTL  time.Duration `yaml:"access_ttl"`
	RefreshTTL time.Duration `yaml:"refresh_ttl"`
	// RefreshMaxTTL is the absolute cap of a refresh-token family.
	RefreshMaxTTL time.Duration `yaml:"refresh_max_ttl"`
	// RefreshReuseGrace lets the same client present the immediately
	// previous refresh token again for this long after a rotation and get
	// the same successor; 0 (the default) is RFC 9700's strict reuse
	// detection. A client's refresh_reuse_grace overrides it.
	RefreshReuseGrace time.Duration `yaml:"refresh_reuse_grace"`
	IDTokenTTL        time.Duration `yaml:"id_token_ttl"`
	// Audience of access tokens; default the issuer.
	Audience []string `yaml:"audience"`
	// ClientCacheTTL is how long an instance trusts a cached client.
	ClientCacheTTL time.Duration `yaml:"client_cache_ttl"`
	// UserCacheTTL is how long an instance trusts a cached user (active flag,
	// groups) when it refreshes a token; a login always reads the user.
	UserCacheTTL time.Duration `yaml:"user_cache_ttl"`
	// VerifiedCacheSize bounds the verified-token cache: access JWTs whose
	// signature verified, kept until their exp (0 turns it off).
	VerifiedCacheSize int `yaml:"verified_cache_size"`
}

// Users configures accounts.
type Users struct {
	// LoginFields are the fields a login may match: username and/or email.
	LoginFields []string `yaml:"login_fields"`
	// Registration is open, activation or closed.
	Registration string `yaml:"registration"`
	// UsernameMixedScripts is "refuse" (default): a new or changed
	// username mixing scripts (Latin with Cyrillic or Greek look-alikes)
	// is refused; "allow" accepts it.
	UsernameMixedScripts string `yaml:"username_mixed_scripts"`
	// API configures the user API (config/users.go).
	API UserAPI `yaml:",inline"`
}

// Backend is one configured backend instance.
type Backend struct {
	ID   string `yaml:"id"`
	Type string `yaml:"type"`
	// OnWrongPassword is what the chain of password backends does after
	// this backend refused a login it knows: "stop" (default) answers
	// "wrong credentials", "next" asks the next backend. An unknown login
	// always goes on to the next backend.
	OnWrongPassword string    `yaml:"on_wrong_password"`
	Config          yaml.Node `yaml:"config"`
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
}

// HTTP configures request handling.
type HTTP struct {
	// MaxBodyBytes limits request bodies on the token endpoints.
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReadTimeout, WriteTimeout and ShutdownTimeout bound the server.
	ReadTimeout     time.Duration `yaml:"read_timeout"`
	WriteTimeout    time.Duration `yaml:"write_timeout"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// CORS lets browser front-ends on other origins call the API.
	CORS CORS `yaml:"cors"`
	// HSTS is sent when the issuer is https.
	HSTS HSTS `yaml:"hsts"`
}

// CORS configures cross-origin requests (with credentials) from browsers.
type CORS struct {
	// AllowedOrigins are exact origins (scheme://host[:port]); empty
	// disables CORS. "*" is refused: credentials are allowed.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// Admin also allows them on /admin/.
	Admin bool `yaml:"admin"`
}

// HSTS is the Strict-Transport-Security header, sent on every response
// when the issuer is https.
type HSTS struct {
	// MaxAge is the header's max-age; 0 sends no header.
	MaxAge            time.Duration `yaml:"max_age"`
	IncludeSubdomains bool          `yaml:"include_subdomains"`
}

// Default returns the configuration used when there is no file.
func Default() Config {
	return Config{
		Listen:  "127.0.0.1:8080",
		Issuer:  "http://localhost:8080",
		DataDir: "./data",
		Storage: Storage{
			Driver:   "sqlite",
			Timeout:  5 * time.Second,
			Postgres: Postgres{MaxConns: 20},
			Redis:    Redis{Prefix: "lk:", Timeout: time.Second},
			Tokens:   "auto",
		},
		Keys: Keys{Algorithm: "ES256", CacheTTL: 30 * time.Second},
		Tokens: Tokens{
			AccessTTL:         5 * time.Minute,
			RefreshTTL:        24 * time.Hour,
			RefreshMaxTTL:     30 * 24 * time.Hour,
			IDTokenTTL:        time.Hour,
			ClientCacheTTL:    10 * time.Second,
			UserCacheTTL:      5 * time.Second,
			VerifiedCacheSize: 20000,
		},
		Users:     Users{LoginFields: []string{"username", "email"}, Registration: "open", UsernameMixedScripts: "refuse", API: defaultUserAPI()},
		Backends:  []Backend{{ID: "local", Type: "local", OnWrongPassword: "stop"}},
		RateLimit: defaultRateLimit(),
		Mail:      defaultMail(),
		UI:        defaultUI(),
		Sessions:  defaultSessions(),
		OAuth2:    defaultOAuth2(),
		Log:       Log{Level: "info", Format: "json"},
		Audit:     Audit{Retention: 90 * 24 * time.Hour},
		// Empty, not nil: what the example's "{}" decodes to.
		Permissions: Permissions{Groups: map[string][]string{}, Scopes: map[string]ScopeRule{}, Claims: map[string]map[string]string{}},
		HTTP: HTTP{
			MaxBodyBytes:    64 << 10,
			ReadTimeout:     10 * time.Second,
			WriteTimeout:    30 * time.Second,
			ShutdownTimeout: 15 * time.Second,
			HSTS:            HSTS{MaxAge: 365 * 24 * time.Hour},
		},
	}
}
