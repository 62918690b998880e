package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"reflect"
)

// SQLitePath is storage.sqlite.path, or <data_dir>/latchkey.db.
func (c *Config) SQLitePath() string {
	if c.Storage.SQLite.Path != "" {
		return c.Storage.SQLite.Path
	}
	return filepath.Join(c.DataDir, "latchkey.db")
}

// MasterKeyPath is keys.master_key_file, or <data_dir>/master.key.
func (c *Config) MasterKeyPath() string {
	if c.Keys.MasterKeyFile != "" {
		return c.Keys.MasterKeyFile
	}
	return filepath.Join(c.DataDir, "master.key")
}

// IssuerIsLoopback reports whether the issuer's host is localhost, in
// 127.0.0.0/8 or ::1 (a development setup).
func (c *Config) IssuerIsLoopback() bool {
	u, err := url.Parse(c.Issuer)
	return err == nil && isLoopbackHost(u.Hostname())
}

// SlogLevel is log.level as a slog.Level; anything unknown is Info (Validate
// refuses it anyway).
func (c *Config) SlogLevel() slog.Level {
	switch c.Log.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Decode decodes the backend's `config:` block into v, a non-nil pointer.
// Keys that v has no field for are errors naming the key and its line in the
// config file. An absent block decodes nothing and returns nil.
func (b Backend) Decode(v any) error {
	if b.Config.Kind == 0 {
		return nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("decode backend config: need a non-nil pointer, got %T", v)
	}
	node := &b.Config
	if problems := checkKnownKeys(node, reflect.TypeOf(v)); len(problems) > 0 {
		return unknownKeysError("", problems)
	}
	if err := node.Decode(v); err != nil {
		return yamlError("", err)
	}
	return nil
}
