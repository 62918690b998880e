//go:build !unix

package sqlstore

import "context"

// sqliteMigrationLock is a no-op where flock is missing: instances starting
// together may then record the migrations in two groups (each migration is
// still applied once, atomically).
func (s *Store) sqliteMigrationLock(context.Context) (func(), error) { return func() {}, nil }
