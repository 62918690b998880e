package config

import (
	"fmt"
	"time"
)

// Redis is the connection to Redis: one node, Sentinel or Cluster.
type Redis struct {
	// URL of a single node: redis://[user:password@]host:6379/0, or rediss://
	// for TLS. Wins over Addrs.
	URL string `yaml:"url"`
	// Addrs (host:port) of a Cluster (several addresses), of Sentinels (with
	// MasterName), or of one node.
	Addrs []string `yaml:"addrs"`
	// MasterName selects Sentinel mode: the name of the monitored master.
	MasterName string `yaml:"master_name"`
	Username   string `yaml:"username"`
	Password   string `yaml:"password"`
	// DB is the database number (single node and Sentinel only).
	DB int `yaml:"db"`
	// TLS connects with TLS (implied by a rediss:// URL).
	TLS bool `yaml:"tls"`
	// PoolSize is the number of connections per node; 0 means go-redis'
	// default (10 per CPU).
	PoolSize int `yaml:"pool_size"`
	// Prefix starts every key latchkey writes, so one Redis can serve
	// several deployments. It must not contain '{' or '}'.
	Prefix string `yaml:"prefix"`
	// Timeout bounds each Redis command, waiting for a connection, dialling
	// and reading the reply included: a Redis that does not answer turns
	// into a 503 after this long (default 1s).
	Timeout time.Duration `yaml:"timeout"`
}

// Configured reports whether a Redis connection is set.
func (r Redis) Configured() bool { return r.URL != "" || len(r.Addrs) > 0 }

// RateLimit configures brute-force protection of every credential check
// (password grant, /auth/jwt/create, token login, client secrets).
type RateLimit struct {
	// Enabled turns the limits on.
	Enabled bool `yaml:"enabled"`
	// AccountAddress counts failures for one account from one client
	// address: it stops a guesser without locking the owner out elsewhere.
	AccountAddress Limit `yaml:"account_address"`
	// Account counts failures for one account from every address (a
	// distributed guesser).
	Account Limit `yaml:"account"`
	// Address counts failures from one client address for every account
	// (credential stuffing).
	Address Limit `yaml:"address"`
	// Mail counts the e-mails requested for one address (password and
	// username resets, activation resends), so nobody can flood a mailbox;
	// "failures" here are requests. Past the limit the answer is 429.
	Mail Limit `yaml:"mail"`
	// MailAddress counts those requests from one client address.
	MailAddress Limit `yaml:"mail_address"`
	// KnownDeviceTTL is how long a client address that signed an account in
	// stays known to that account: a known address is not refused by the
	// account limit's block (its account_address and address limits still
	// apply). 0 turns the address rule off. Default 720h.
	KnownDeviceTTL time.Duration `yaml:"known_device_ttl"`
	// DeviceCookieTTL is the lifetime of the latchkey_device cookie set by
	// the user API's logins (/auth/jwt/create/, /auth/token/login/): a
	// browser holding it is a known device of that account. 0 sets and
	// accepts no cookie. Default 720h.
	DeviceCookieTTL time.Duration `yaml:"device_cookie_ttl"`
}

// Limit allows Failures failed attempts within Window; each further failure
// blocks the key for Backoff, doubling up to MaxBackoff.
type Limit struct {
	Failures   int           `yaml:"failures"`
	Window     time.Duration `yaml:"window"`
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

func defaultRateLimit() RateLimit {
	return RateLimit{
		Enabled:         true,
		AccountAddress:  Limit{Failures: 5, Window: 15 * time.Minute, Backoff: time.Second, MaxBackoff: 15 * time.Minute},
		Account:         Limit{Failures: 50, Window: 15 * time.Minute, Backoff: time.Second, MaxBackoff: 5 * time.Minute},
		Address:         Limit{Failures: 100, Window: 15 * time.Minute, Backoff: time.Second, MaxBackoff: 15 * time.Minute},
		Mail:            Limit{Failures: 3, Window: time.Hour, Backoff: 5 * time.Minute, MaxBackoff: time.Hour},
		MailAddress:     Limit{Failures: 20, Window: time.Hour, Backoff: time.Minute, MaxBackoff: time.Hour},
		KnownDeviceTTL:  720 * time.Hour,
		DeviceCookieTTL: 720 * time.Hour,
	}
}

func (c *Config) validateRedis(p *problems) {
	r := c.Storage.Redis
	for i, a := range r.Addrs {
		checkHostPort(p, fmt.Sprintf("storage.redis.addrs[%d]", i), a)
	}
	if r.MasterName != "" && len(r.Addrs) == 0 && r.URL == "" {
		p.add("storage.redis.addrs", "must list the Sentinel addresses when storage.redis.master_name is set")
	}
	if r.DB < 0 {
		p.add("storage.redis.db", "must not be negative, got %d", r.DB)
	}
	if r.PoolSize < 0 {
		p.add("storage.redis.pool_size", "must not be negative, got %d", r.PoolSize)
	}
	if containsAny(r.Prefix, "{}") {
		p.add("storage.redis.prefix", "must not contain '{' or '}', got %q", r.Prefix)
	}
	positive(p, "storage.redis.timeout", r.Timeout)
	oneOf(p, "storage.tokens", c.Storage.Tokens, "auto", "sql", "redis")
	if c.Storage.Tokens == "redis" && !r.Configured() {
		p.add("storage.tokens", "is \"redis\" but storage.redis has neither url nor addrs")
	}
}

func (c *Config) validateRateLimit(p *problems) {
	if c.RateLimit.KnownDeviceTTL < 0 {
		p.add("rate_limit.known_device_ttl", "must not be negative (0 turns the known-address rule off), got %s", c.RateLimit.KnownDeviceTTL)
	}
	if c.RateLimit.DeviceCookieTTL < 0 {
		p.add("rate_limit.device_cookie_ttl", "must not be negative (0 turns the device cookie off), got %s", c.RateLimit.DeviceCookieTTL)
	}
	for _, l := range []struct {
		key string
		l   Limit
	}{
		{"rate_limit.account_address", c.RateLimit.AccountAddress},
		{"rate_limit.account", c.RateLimit.Account},
		{"rate_limit.address", c.RateLimit.Address},
		{"rate_limit.mail", c.RateLimit.Mail},
		{"rate_limit.mail_address", c.RateLimit.MailAddress},
	} {
		if l.l.Failures < 0 {
			p.add(l.key+".failures", "must not be negative (0 turns this limit off), got %d", l.l.Failures)
		}
		if l.l.Failures == 0 {
			continue
		}
		positive(p, l.key+".window", l.l.Window)
		positive(p, l.key+".backoff", l.l.Backoff)
		if l.l.MaxBackoff < l.l.Backoff {
			p.add(l.key+".max_backoff", "must be at least %s.backoff (%s), got %s", l.key, l.l.Backoff, l.l.MaxBackoff)
		}
	}
}

func containsAny(s, chars string) bool {
	for _, r := range chars {
		for _, c := range s {
			if r == c {
				return true
			}
		}
	}
	return false
}
