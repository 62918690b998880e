package config

import "time"

// OAuth2 configures protocol features beyond the core grants.
type OAuth2 struct {
	// Registration is the dynamic client registration policy (RFC 7591,
	// docs/client-registration.md): "off" (no /oauth2/register), "open"
	// (anyone, rate limited per client address) or "initial_access_token"
	// (an lk_iat_ token an administrator made is required).
	Registration string `yaml:"registration"`
	// RegistrationAllowConfidential lets registration create confidential
	// clients (with a client_secret); by default only public clients
	// (token_endpoint_auth_method: none) register.
	RegistrationAllowConfidential bool `yaml:"registration_allow_confidential"`
	// RegistrationClientTTL deletes a registered client once no token was
	// issued to it for this long (counted from its registration when it
	// never got one); 0 keeps them forever.
	RegistrationClientTTL time.Duration `yaml:"registration_client_ttl"`
	// RegistrationRateLimit limits open registration per client address.
	RegistrationRateLimit RequestLimit `yaml:"registration_rate_limit"`
	// ClientIDMetadataDocuments lets a client_id be the https URL of a
	// JSON document describing the client (docs/client-id-metadata.md).
	ClientIDMetadataDocuments ClientIDMetadataDocuments `yaml:"client_id_metadata_documents"`
}

// RequestLimit allows Requests requests within Window; past it requests
// are refused (429) until the window has passed.
type RequestLimit struct {
	// Requests allowed per Window; 0 turns the limit off.
	Requests int           `yaml:"requests"`
	Window   time.Duration `yaml:"window"`
}

// The dynamic client registration policies (oauth2.registration).
const (
	RegistrationOff                = "off"
	RegistrationOpen               = "open"
	RegistrationInitialAccessToken = "initial_access_token"
)

func defaultOAuth2() OAuth2 {
	return OAuth2{
		Registration:              RegistrationOff,
		RegistrationClientTTL:     90 * 24 * time.Hour,
		RegistrationRateLimit:     RequestLimit{Requests: 10, Window: time.Hour},
		ClientIDMetadataDocuments: defaultCIMD(),
	}
}

func (c *Config) validateOAuth2(p *problems) {
	o := c.OAuth2
	oneOf(p, "oauth2.registration", o.Registration, RegistrationOff, RegistrationOpen, RegistrationInitialAccessToken)
	if o.RegistrationClientTTL != 0 && o.RegistrationClientTTL < time.Hour {
		p.add("oauth2.registration_client_ttl", "must be 0 (keep registered clients forever) or at least 1h, got %s", o.RegistrationClientTTL)
	}
	if o.RegistrationRateLimit.Requests < 0 {
		p.add("oauth2.registration_rate_limit.requests", "must be 0 (no limit) or more, got %d", o.RegistrationRateLimit.Requests)
	}
	if o.RegistrationRateLimit.Requests > 0 && o.RegistrationRateLimit.Window < time.Second {
		p.add("oauth2.registration_rate_limit.window", "must be at least 1s when requests is set, got %s", o.RegistrationRateLimit.Window)
	}
	c.validateCIMD(p)
}
