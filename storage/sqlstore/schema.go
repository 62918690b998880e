package sqlstore

import "strings"

// The schema is written once for both dialects; ddl fills in the types that
// differ. Migrations are frozen text, not derived from the Go models, so a
// model change never silently changes an old migration.
//
// Conventions: times are {{time}} (see dbTime) and NULL when unset; list and
// map fields are {{json}}; every statement is idempotent (IF [NOT] EXISTS) so
// a migration interrupted between its commit and its bookkeeping re-runs
// cleanly.

var schemaUsersUp = []string{
	`CREATE TABLE IF NOT EXISTS users (
		id {{id}},
		username TEXT NOT NULL,
		username_norm TEXT NOT NULL,
		email TEXT NOT NULL DEFAULT '',
		email_norm TEXT,
		search_text TEXT NOT NULL DEFAULT '',
		password_hash TEXT NOT NULL DEFAULT '',
		first_name TEXT NOT NULL DEFAULT '',
		last_name TEXT NOT NULL DEFAULT '',
		is_active BOOLEAN NOT NULL DEFAULT FALSE,
		is_staff BOOLEAN NOT NULL DEFAULT FALSE,
		is_superuser BOOLEAN NOT NULL DEFAULT FALSE,
		email_verified BOOLEAN NOT NULL DEFAULT FALSE,
		date_joined {{time}},
		last_login {{time}},
		password_changed_at {{time}},
		profile {{json}}
	)`,
	// email_norm is NULL for an empty e-mail, and NULLs never clash.
	`CREATE UNIQUE INDEX IF NOT EXISTS users_username_norm ON users (username_norm)`,
	`CREATE UNIQUE INDEX IF NOT EXISTS users_email_norm ON users (email_norm)`,
	`CREATE TABLE IF NOT EXISTS "groups" (
		name TEXT PRIMARY KEY,
		permissions {{json}},
		created_at {{time}}
	)`,
	`CREATE TABLE IF NOT EXISTS user_groups (
		user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		group_name TEXT NOT NULL REFERENCES "groups" (name) ON DELETE CASCADE,
		PRIMARY KEY (user_id, group_name)
	){{without_rowid}}`,
	`CREATE INDEX IF NOT EXISTS user_groups_group_name ON user_groups (group_name)`,
}

var schemaUsersDown = []string{
	`DROP TABLE IF EXISTS user_groups`,
	`DROP TABLE IF EXISTS "groups"`,
	`DROP TABLE IF EXISTS users`,
}

var schemaClientsUp = []string{
	`CREATE TABLE IF NOT EXISTS clients (
		id TEXT PRIMARY KEY,
		secret_hash TEXT NOT NULL DEFAULT '',
		name TEXT NOT NULL DEFAULT '',
		redirect_uris {{json}},
		post_logout_redirect_uris {{json}},
		grant_types {{json}},
		response_types {{json}},
		scope TEXT NOT NULL DEFAULT '',
		token_endpoint_auth_method TEXT NOT NULL DEFAULT '',
		access_token_format TEXT NOT NULL DEFAULT '',
		access_token_ttl BIGINT NOT NULL DEFAULT 0,
		refresh_token_ttl BIGINT NOT NULL DEFAULT 0,
		created_at {{time}},
		updated_at {{time}}
	)`,
	`CREATE TABLE IF NOT EXISTS signing_keys (
		id TEXT PRIMARY KEY,
		algorithm TEXT NOT NULL DEFAULT '',
		private_key {{bytes}},
		public_key {{bytes}},
		created_at {{time}},
		retired_at {{time}},
		expires_at {{time}}
	)`,
}

var schemaClientsDown = []string{
	`DROP TABLE IF EXISTS signing_keys`,
	`DROP TABLE IF EXISTS clients`,
}

// Families have no foreign key to clients: a client may be defined outside
// the database, and deleting one must not need a sweep of its sessions.
var schemaTokensUp = []string{
	`CREATE TABLE IF NOT EXISTS refresh_families (
		id TEXT PRIMARY KEY,
		client_id TEXT NOT NULL DEFAULT '',
		subject TEXT NOT NULL DEFAULT '',
		scope TEXT NOT NULL DEFAULT '',
		auth_time {{time}},
		created_at {{time}},
		last_used_at {{time}},
		expires_at {{time}},
		revoked_at {{time}},
		user_agent TEXT NOT NULL DEFAULT '',
		ip TEXT NOT NULL DEFAULT ''
	)`,
	// ListFamilies and RevokeSubject go by subject, newest first.
	`CREATE INDEX IF NOT EXISTS refresh_families_subject ON refresh_families (subject, created_at)`,
	`CREATE INDEX IF NOT EXISTS refresh_families_expires_at ON refresh_families (expires_at)`,
	// Rotated tokens stay (rotated_at set) until they expire, so a reuse is
	// recognised rather than looking like an unknown token.
	`CREATE TABLE IF NOT EXISTS refresh_tokens (
		hash TEXT PRIMARY KEY,
		family_id TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
		created_at {{time}},
		expires_at {{time}},
		rotated_at {{time}}
	){{without_rowid}}`,
	`CREATE INDEX IF NOT EXISTS refresh_tokens_family_id ON refresh_tokens (family_id)`,
	`CREATE INDEX IF NOT EXISTS refresh_tokens_expires_at ON refresh_tokens (expires_at)`,
	`CREATE TABLE IF NOT EXISTS access_tokens (
		hash TEXT PRIMARY KEY,
		jti TEXT NOT NULL DEFAULT '',
		family_id TEXT NOT NULL DEFAULT '',
		client_id TEXT NOT NULL DEFAULT '',
		subject TEXT NOT NULL DEFAULT '',
		scope TEXT NOT NULL DEFAULT '',
		claims {{json}},
		issued_at {{time}},
		expires_at {{time}}
	)`,
	`CREATE INDEX IF NOT EXISTS access_tokens_expires_at ON access_tokens (expires_at)`,
	`CREATE TABLE IF NOT EXISTS revocations (
		jti TEXT PRIMARY KEY,
		"until" {{time}} NOT NULL
	){{without_rowid}}`,
	`CREATE INDEX IF NOT EXISTS revocations_until ON revocations ("until")`,
}

var schemaTokensDown = []string{
	`DROP TABLE IF EXISTS revocations`,
	`DROP TABLE IF EXISTS access_tokens`,
	`DROP TABLE IF EXISTS refresh_tokens`,
	`DROP TABLE IF EXISTS refresh_families`,
}

var (
	// WITHOUT ROWID stores small rows keyed by text in the primary key's
	// b-tree itself: one lookup instead of index then table.
	sqliteTypes = strings.NewReplacer(
		"{{id}}", "INTEGER PRIMARY KEY AUTOINCREMENT", // AUTOINCREMENT: never reuse a deleted user's ID
		"{{time}}", "INTEGER",
		"{{json}}", "TEXT",
		"{{bytes}}", "BLOB",
		"{{without_rowid}}", " WITHOUT ROWID",
	)
	postgresTypes = strings.NewReplacer(
		"{{id}}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
		"{{time}}", "TIMESTAMPTZ",
		"{{json}}", "JSONB",
		"{{bytes}}", "BYTEA",
		"{{without_rowid}}", "",
	)
)

// ddl renders statements for a dialect.
func ddl(pg bool, stmts []string) []string {
	r := sqliteTypes
	if pg {
		r = postgresTypes
	}
	out := make([]string, len(stmts))
	for i, s := range stmts {
		out[i] = r.Replace(s)
	}
	return out
}
