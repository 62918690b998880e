package sqlstore

// Device authorizations, RFC 8628 (migration 20261206000401). Both codes
// are stored as keyed hashes; the user-code hash is unique so that a page
// lookup finds one code. Rows stay DeviceCodeRetention past their expiry
// so that a late poll is told expired_token.
var schemaDeviceCodesUp = []string{
	`CREATE TABLE IF NOT EXISTS device_codes (
		hash TEXT PRIMARY KEY,
		user_code_hash TEXT NOT NULL,
		client_id TEXT NOT NULL DEFAULT '',
		scope TEXT NOT NULL DEFAULT '',
		interval_ms BIGINT NOT NULL DEFAULT 0,
		status TEXT NOT NULL DEFAULT 'pending',
		last_poll {{time}},
		subject TEXT NOT NULL DEFAULT '',
		session_id TEXT NOT NULL DEFAULT '',
		auth_time {{time}},
		claims {{json}},
		decided_at {{time}},
		created_at {{time}},
		expires_at {{time}} NOT NULL
	){{without_rowid}}`,
	`CREATE UNIQUE INDEX IF NOT EXISTS device_codes_user_code_hash ON device_codes (user_code_hash)`,
	`CREATE INDEX IF NOT EXISTS device_codes_expires_at ON device_codes (expires_at)`,
}

var schemaDeviceCodesDown = []string{
	`DROP TABLE IF EXISTS device_codes`,
}
