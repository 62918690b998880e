package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey-auth/latchkey/storage"
)

var _ storage.LoginSessions = (*Store)(nil)

type loginRow struct {
	bun.BaseModel `bun:"table:login_sessions,alias:ls"`

	ID                  string `bun:"id,pk"`
	Subject             string
	AuthTime            dbTime
	Backend             string
	ClientID            string
	RedirectURI         string
	Scope               string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	UpstreamState       string
	UpstreamNonce       string
	UpstreamVerifier    string
	CSRFToken           string `bun:"csrf_token"`
	Data                map[string]string
	UserAgent           string
	IP                  string `bun:"ip"`
	CreatedAt           dbTime
	UpdatedAt           dbTime
	ExpiresAt           dbTime
}

func newLoginRow(l storage.LoginSession) loginRow {
	return loginRow{
		ID: l.ID, Subject: l.Subject, AuthTime: dbTime(l.AuthTime), Backend: l.Backend,
		ClientID: l.ClientID, RedirectURI: l.RedirectURI, Scope: l.Scope, State: l.State, Nonce: l.Nonce,
		CodeChallenge: l.CodeChallenge, CodeChallengeMethod: l.CodeChallengeMethod,
		UpstreamState: l.UpstreamState, UpstreamNonce: l.UpstreamNonce, UpstreamVerifier: l.UpstreamVerifier,
		CSRFToken: l.CSRFToken, Data: l.Data, UserAgent: l.UserAgent, IP: l.IP,
		CreatedAt: dbTime(l.CreatedAt), UpdatedAt: dbTime(l.UpdatedAt), ExpiresAt: dbTime(l.ExpiresAt),
	}
}

func (r loginRow) login() storage.LoginSession {
	return storage.LoginSession{
		ID: r.ID, Subject: r.Subject, AuthTime: r.AuthTime.Time(), Backend: r.Backend,
		ClientID: r.ClientID, RedirectURI: r.RedirectURI, Scope: r.Scope, State: r.State, Nonce: r.Nonce,
		CodeChallenge: r.CodeChallenge, CodeChallengeMethod: r.CodeChallengeMethod,
		UpstreamState: r.UpstreamState, UpstreamNonce: r.UpstreamNonce, UpstreamVerifier: r.UpstreamVerifier,
		CSRFToken: r.CSRFToken, Data: r.Data, UserAgent: r.UserAgent, IP: r.IP,
		CreatedAt: r.CreatedAt.Time(), UpdatedAt: r.UpdatedAt.Time(), ExpiresAt: r.ExpiresAt.Time(),
	}
}

// CreateLogin stores a new login session.
func (s *Store) CreateLogin(ctx context.Context, l storage.LoginSession) error {
	const op = "create login session"
	if err := checkText(op, l); err != nil {
		return err
	}
	row := newLoginRow(l)
	_, err := s.w.NewInsert().Model(&row).Exec(ctx)
	return translate(op, err)
}

// GetLogin returns a login session that has not expired at now.
func (s *Store) GetLogin(ctx context.Context, id string, now time.Time) (storage.LoginSession, error) {
	const op = "get login session"
	if err := checkKey(op, id); err != nil {
		return storage.LoginSession{}, err
	}
	var row loginRow
	err := s.r.NewSelect().Model(&row).Where("id = ?", id).Where("expires_at > ?", dbTime(now)).Scan(ctx)
	if err != nil {
		return storage.LoginSession{}, translate(op, err)
	}
	return row.login(), nil
}

// UpdateLogin runs fn on a live session inside a transaction, the row
// locked on Postgres.
func (s *Store) UpdateLogin(ctx context.Context, id string, now time.Time, fn func(*storage.LoginSession) error) (storage.LoginSession, error) {
	const op = "update login session"
	if err := checkKey(op, id); err != nil {
		return storage.LoginSession{}, err
	}
	return updateTx(ctx, s, op, fn,
		func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("id = ?", id).Where("expires_at > ?", dbTime(now))
		},
		(*loginRow).login,
		func(r *loginRow, l storage.LoginSession) { l.ID = r.ID; *r = newLoginRow(l) })
}

// DeleteLogin removes a login session.
func (s *Store) DeleteLogin(ctx context.Context, id string) error {
	op := fmt.Sprintf("delete login session %q", id)
	if err := checkKey(op, id); err != nil {
		return err
	}
	res, err := s.w.NewDelete().Model((*loginRow)(nil)).Where("id = ?", id).Exec(ctx)
	return expectRows(res, err, op)
}

// PurgeLogins deletes expired login sessions.
func (s *Store) PurgeLogins(ctx context.Context, now time.Time) (int, error) {
	return s.purgeTable(ctx, "login_sessions", "id", "expires_at <= ?", dbTime(now))
}
