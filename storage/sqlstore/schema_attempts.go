package sqlstore

// login_attempts holds the failure counters of rate limiting (see
// storage.Attempts). id is the caller's opaque key; a row is stale once
// expires_at has passed (the count is forgotten) and PurgeAttempts removes
// it. blocked_until is NULL when the key was never blocked.
var schemaAttemptsUp = []string{
	`CREATE TABLE IF NOT EXISTS login_attempts (
		id TEXT PRIMARY KEY,
		failures INTEGER NOT NULL DEFAULT 0,
		blocked_until {{time}},
		expires_at {{time}} NOT NULL
	){{without_rowid}}`,
	`CREATE INDEX IF NOT EXISTS login_attempts_expires_at ON login_attempts (expires_at)`,
}

var schemaAttemptsDown = []string{
	`DROP TABLE IF EXISTS login_attempts`,
}
