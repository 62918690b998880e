package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/latchkey-auth/latchkey/permissions"
	"github.com/latchkey-auth/latchkey/storage"
)

// groupSeeder is what seeding the configured groups needs of the store.
type groupSeeder interface {
	GetGroup(ctx context.Context, name string) (storage.Group, error)
	CreateGroup(ctx context.Context, g storage.Group) error
}

// seedGroups creates each group of permissions.groups that does not exist
// yet, with its configured permissions. A group that exists is left as it
// is: /admin/groups/ edits it at run time, and a restart never undoes them
// (docs/permissions.md). Instances starting together may race; the loser's
// conflict is not an error.
func seedGroups(ctx context.Context, store groupSeeder, m *permissions.Mapper, now time.Time, log *slog.Logger) error {
	for name, perms := range m.Groups() {
		_, err := store.GetGroup(ctx, name)
		if err == nil {
			continue
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("seed group %q: %w", name, err)
		}
		err = store.CreateGroup(ctx, storage.Group{Name: name, Permissions: perms, CreatedAt: now})
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("seed group %q: %w", name, err)
		}
		log.InfoContext(ctx, "group created from permissions.groups", "group", name, "permissions", len(perms))
	}
	return nil
}
