package sqlstore

// Resource indicators (RFC 8707, migration 20261206000701): an
// authorization code and a refresh family remember the resource their
// tokens are for, so the code's redemption and every refresh keep the aud.
var schemaResourceUp = []string{
	`ALTER TABLE auth_codes ADD COLUMN IF NOT EXISTS resource TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE refresh_families ADD COLUMN IF NOT EXISTS resource TEXT NOT NULL DEFAULT ''`,
}

var schemaResourceDown = []string{
	`ALTER TABLE refresh_families DROP COLUMN IF EXISTS resource`,
	`ALTER TABLE auth_codes DROP COLUMN IF EXISTS resource`,
}
