package sqlstore

// One-time authorization codes and login state (migration
// 20251130000031). Used codes stay, marked, until they expire so that a
// replay is told from an unknown code; both tables are purged by expiry.
var schemaCodesUp = []string{
	`CREATE TABLE IF NOT EXISTS auth_codes (
		hash TEXT PRIMARY KEY,
		family_id TEXT NOT NULL DEFAULT '',
		client_id TEXT NOT NULL DEFAULT '',
		subject TEXT NOT NULL DEFAULT '',
		redirect_uri TEXT NOT NULL DEFAULT '',
		scope TEXT NOT NULL DEFAULT '',
		nonce TEXT NOT NULL DEFAULT '',
		code_challenge TEXT NOT NULL DEFAULT '',
		code_challenge_method TEXT NOT NULL DEFAULT '',
		session_id TEXT NOT NULL DEFAULT '',
		auth_time {{time}},
		claims {{json}},
		created_at {{time}},
		expires_at {{time}} NOT NULL,
		used_at {{time}}
	){{without_rowid}}`,
	`CREATE INDEX IF NOT EXISTS auth_codes_expires_at ON auth_codes (expires_at)`,
	`CREATE TABLE IF NOT EXISTS login_sessions (
		id TEXT PRIMARY KEY,
		subject TEXT NOT NULL DEFAULT '',
		auth_time {{time}},
		backend TEXT NOT NULL DEFAULT '',
		client_id TEXT NOT NULL DEFAULT '',
		redirect_uri TEXT NOT NULL DEFAULT '',
		scope TEXT NOT NULL DEFAULT '',
		state TEXT NOT NULL DEFAULT '',
		nonce TEXT NOT NULL DEFAULT '',
		code_challenge TEXT NOT NULL DEFAULT '',
		code_challenge_method TEXT NOT NULL DEFAULT '',
		upstream_state TEXT NOT NULL DEFAULT '',
		upstream_nonce TEXT NOT NULL DEFAULT '',
		upstream_verifier TEXT NOT NULL DEFAULT '',
		csrf_token TEXT NOT NULL DEFAULT '',
		data {{json}},
		user_agent TEXT NOT NULL DEFAULT '',
		ip TEXT NOT NULL DEFAULT '',
		created_at {{time}},
		updated_at {{time}},
		expires_at {{time}} NOT NULL
	){{without_rowid}}`,
	`CREATE INDEX IF NOT EXISTS login_sessions_expires_at ON login_sessions (expires_at)`,
}

var schemaCodesDown = []string{
	`DROP TABLE IF EXISTS login_sessions`,
	`DROP TABLE IF EXISTS auth_codes`,
}
