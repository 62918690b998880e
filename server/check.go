package server

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/latchkey-auth/latchkey/backends"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/permissions"
)

// CheckConfig is everything that can be checked of a loaded configuration
// without touching a store: the backends' types and config blocks (against
// the registry), the permission mapper (permissions:), the user API's
// profile schema and mail templates, and a
// master key file that exists. `latchkey config check` and `latchkey
// serve` (through Open, before it creates the data directory or migrates)
// both call it, so the two are exactly as strict. Every problem is
// reported at once, each naming its key.
func CheckConfig(cfg config.Config, reg backends.Registry) error {
	var errs []error
	for i, b := range cfg.Backends {
		if err := reg.Check(backends.Spec{ID: b.ID, Type: b.Type, Decode: b.Decode}); err != nil {
			key := fmt.Sprintf("backends[%d]", i)
			if errors.Is(err, backends.ErrUnknownType) {
				key += ".type"
			} else {
				key += ".config"
			}
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
		}
	}
	if _, err := permissions.New(cfg.Permissions); err != nil {
		errs = append(errs, err)
	}
	if _, err := userAPIProfileSchema(cfg.Users.API); err != nil {
		errs = append(errs, err)
	}
	if _, err := newUserAPIMailer(cfg.Mail, slog.New(slog.DiscardHandler)); err != nil {
		errs = append(errs, fmt.Errorf("mail: %w", err))
	}
	if cfg.Keys.MasterKey == "" {
		if err := checkMasterKeyFile(cfg.MasterKeyPath()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkMasterKeyFile checks a master key file that exists; a missing one is
// created on the first start.
func checkMasterKeyFile(path string) error {
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("keys.master_key_file: %w", err)
	}
	if _, err := config.DecodeMasterKey(strings.TrimSpace(string(data))); err != nil {
		return fmt.Errorf("keys.master_key_file: %s: %w", path, err)
	}
	return nil
}
