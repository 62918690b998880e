package config

import "time"

// Sessions configures the browsers' login sessions (cookie
// latchkey_session, see docs/browser-login.md).
type Sessions struct {
	// IdleTimeout ends a session nobody used for this long.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// Lifetime ends any session this long after the login, used or not.
	Lifetime time.Duration `yaml:"lifetime"`
	// LogoutRevokesTokens: signing out at /oauth2/logout also revokes the
	// refresh tokens the applications got through that session.
	LogoutRevokesTokens bool `yaml:"logout_revokes_tokens"`
}

func defaultSessions() Sessions {
	return Sessions{IdleTimeout: 12 * time.Hour, Lifetime: 7 * 24 * time.Hour}
}

func (c *Config) validateSessions(p *problems) {
	s := c.Sessions
	if s.IdleTimeout < time.Minute || s.IdleTimeout > 90*24*time.Hour {
		p.add("sessions.idle_timeout", "must be between 1m and 2160h (90 days), got %s", s.IdleTimeout)
	}
	if s.Lifetime < time.Minute || s.Lifetime > 400*24*time.Hour {
		p.add("sessions.lifetime", "must be between 1m and 9600h (400 days), got %s", s.Lifetime)
	}
	if s.IdleTimeout > s.Lifetime && s.Lifetime >= time.Minute {
		p.add("sessions.idle_timeout", "must not be longer than sessions.lifetime (%s), got %s", s.Lifetime, s.IdleTimeout)
	}
}
