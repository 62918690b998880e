package main

import (
	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/backends/local"
	"github.com/latchkey-auth/latchkey/backends/oidc"
	"github.com/latchkey-auth/latchkey/backends/opaque"
	"github.com/latchkey-auth/latchkey/backends/webhook"
)

// backendTypes is the registry of backend types. This is the only file that
// imports every backend implementation.
func backendTypes() backends.Registry {
	return backends.Registry{
		"local":   func() backends.Config { return new(local.Config) },
		"oidc":    func() backends.Config { return new(oidc.Config) },
		"opaque":  func() backends.Config { return new(opaque.Config) },
		"webhook": func() backends.Config { return new(webhook.Config) },
	}
}
