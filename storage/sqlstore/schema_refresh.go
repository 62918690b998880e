package sqlstore

// A family keeps its one live refresh token in its own row (generation,
// token_hash, token times): a rotation is one UPDATE of one row, where it
// was a consume, a family update and an insert into refresh_tokens with two
// indexes, and rotated-out tokens no longer pile up until they expire. A
// rotated-out token is recognised by its generation, which latchkey MACs
// into the token. Refresh tokens of the former format stop working.
var schemaRefreshInFamilyUp = []string{
	`ALTER TABLE refresh_families ADD COLUMN IF NOT EXISTS generation BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE refresh_families ADD COLUMN IF NOT EXISTS token_hash TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE refresh_families ADD COLUMN IF NOT EXISTS token_created_at {{time}}`,
	`ALTER TABLE refresh_families ADD COLUMN IF NOT EXISTS token_expires_at {{time}}`,
	`DROP TABLE IF EXISTS refresh_tokens`,
}

var schemaRefreshInFamilyDown = []string{
	`CREATE TABLE IF NOT EXISTS refresh_tokens (
		hash TEXT PRIMARY KEY,
		family_id TEXT NOT NULL REFERENCES refresh_families (id) ON DELETE CASCADE,
		created_at {{time}},
		expires_at {{time}},
		rotated_at {{time}}
	){{without_rowid}}`,
	`CREATE INDEX IF NOT EXISTS refresh_tokens_family_id ON refresh_tokens (family_id)`,
	`CREATE INDEX IF NOT EXISTS refresh_tokens_expires_at ON refresh_tokens (expires_at)`,
	`ALTER TABLE refresh_families DROP COLUMN IF EXISTS token_expires_at`,
	`ALTER TABLE refresh_families DROP COLUMN IF EXISTS token_created_at`,
	`ALTER TABLE refresh_families DROP COLUMN IF EXISTS token_hash`,
	`ALTER TABLE refresh_families DROP COLUMN IF EXISTS generation`,
}

// The last rotation's spent token hash and commit time (migration
// 20251205000001): the same client may present the immediately previous
// token again within the reuse grace (clients.refresh_reuse_grace, NULL: the
// server's), and a request that arrived before the
// rotation committed lost a race rather than replayed a token. The commit
// time is in Unix microseconds: a request and a rotation often fall in one
// millisecond.
var schemaRotationGraceUp = []string{
	`ALTER TABLE refresh_families ADD COLUMN IF NOT EXISTS prev_hash TEXT NOT NULL DEFAULT ''`,
	`ALTER TABLE refresh_families ADD COLUMN IF NOT EXISTS rotated_us BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE clients ADD COLUMN IF NOT EXISTS refresh_reuse_grace BIGINT`,
}

var schemaRotationGraceDown = []string{
	`ALTER TABLE clients DROP COLUMN IF EXISTS refresh_reuse_grace`,
	`ALTER TABLE refresh_families DROP COLUMN IF EXISTS rotated_us`,
	`ALTER TABLE refresh_families DROP COLUMN IF EXISTS prev_hash`,
}
