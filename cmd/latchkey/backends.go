package main

import (
	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/local"
	"github.com/latchkey-auth/latchkey/config"
)

// backendTypes is the registry of backend types. This is the only file that
// imports every backend implementation.
func backendTypes() backends.Registry {
	return backends.Registry{
		"local": func() backends.Config { return new(local.Config) },
	}
}

// passwordHasher hashes new passwords with the argon2id parameters of the
// first configured local backend (the defaults when there is none), so new
// hashes never need an upgrade at the next login.
func passwordHasher(cfg config.Config) (func(string) (string, error), error) {
	var lc local.Config
	for _, b := range cfg.Backends {
		if b.Type == "local" {
			if err := b.Decode(&lc); err != nil {
				return nil, err
			}
			break
		}
	}
	params := lc.Argon2
	return func(password string) (string, error) { return local.HashPassword(password, params) }, nil
}
