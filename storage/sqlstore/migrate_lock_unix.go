//go:build unix

package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// sqliteMigrationLock holds an exclusive flock on "<database>.migrate-lock"
// while one Migrate call runs, so that two processes (or stores) starting
// together on one SQLite file apply the pending migrations as one group,
// one after the other, as Postgres' advisory lock does. SQLite's own lock
// serialises each migration's transaction, not the whole group.
func (s *Store) sqliteMigrationLock(ctx context.Context) (unlock func(), err error) {
	var file string
	if err := s.w.NewRaw("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(ctx, &file); err != nil {
		return nil, translate("migration lock", err)
	}
	if file == "" {
		return func() {}, nil // a temporary database has no second user
	}
	f, err := os.OpenFile(file+".migrate-lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migration lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("sqlstore: migration lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, translate("migration lock", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
