package sqlstore_test

import (
	"testing"

	"github.com/latchkey-auth/latchkey/storage"
	"github.com/latchkey-auth/latchkey/storage/sqlstore"
	"github.com/latchkey-auth/latchkey/storage/storagetest"
)

func runEphemeralSuites(t *testing.T, open opener) {
	o := func(t *testing.T) *sqlstore.Store { return open(t, true) }
	t.Run("Codes", func(t *testing.T) {
		storagetest.RunCodes(t, func(t *testing.T) storage.Codes { return o(t) })
	})
	t.Run("LoginSessions", func(t *testing.T) {
		storagetest.RunLoginSessions(t, func(t *testing.T) storage.LoginSessions { return o(t) })
	})
}

func TestSQLiteCodesAndLogins(t *testing.T) { runEphemeralSuites(t, openSQLite) }

func TestPostgresCodesAndLogins(t *testing.T) { runEphemeralSuites(t, postgres(t)) }

func runDeviceCodes(t *testing.T, open opener) {
	storagetest.RunDeviceCodes(t, func(t *testing.T) storage.DeviceCodes { return open(t, true) })
}

func TestSQLiteDeviceCodes(t *testing.T) { runDeviceCodes(t, openSQLite) }

func TestPostgresDeviceCodes(t *testing.T) { runDeviceCodes(t, postgres(t)) }
