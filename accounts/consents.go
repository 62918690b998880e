package accounts

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey-auth/latchkey/audit"
	"github.com/latchkey-auth/latchkey/storage"
)

// Consents is what the service uses of the consent store: what each user
// allowed each client on the consent page. storage.Consents implements it.
type Consents interface {
	GetConsent(ctx context.Context, subject, clientID string) (storage.Consent, error)
	ListConsents(ctx context.Context, subject string) ([]storage.Consent, error)
	RevokeConsent(ctx context.Context, subject, clientID string) error
}

// ClientReader reads the clients consents are for (their display names).
type ClientReader interface {
	GetClient(ctx context.Context, id string) (storage.Client, error)
}

// maxClientIDLen bounds a client ID taken from a path; a longer one is not
// found without asking the store.
const maxClientIDLen = 2048

// Consent is a user's consent to a client as the API lists it.
type Consent struct {
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name"`
	Scopes     []string  `json:"scopes"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
}

// Consents lists the caller's consents, the most recently changed first
// (GET /users/me/consents/).
func (s *Service) Consents(ctx context.Context, p *Principal) ([]Consent, error) {
	return s.consentsOf(ctx, p.User.ID)
}

// RevokeConsent withdraws the caller's consent to a client, and ends the
// caller's sessions (refresh families) of that client, so the client loses
// the access it was given (DELETE /users/me/consents/{client_id}/). No
// consent to that client is ErrNotFound.
func (s *Service) RevokeConsent(ctx context.Context, p *Principal, clientID string) error {
	return s.revokeConsentOf(ctx, p, p.User.ID, clientID)
}

// UserConsents lists any user's consents (admin API, staff only).
func (s *Service) UserConsents(ctx context.Context, p *Principal, userID int64) ([]Consent, error) {
	u, err := s.target(ctx, p, userID)
	if err != nil {
		return nil, err
	}
	return s.consentsOf(ctx, u.ID)
}

// RevokeUserConsent withdraws a consent of any user, with the sessions of
// that client (admin API, staff only; a superuser's only by a superuser).
func (s *Service) RevokeUserConsent(ctx context.Context, p *Principal, userID int64, clientID string) error {
	u, err := s.writable(ctx, p, userID)
	if err != nil {
		return err
	}
	return s.revokeConsentOf(ctx, p, u.ID, clientID)
}

func (s *Service) consentsOf(ctx context.Context, userID int64) ([]Consent, error) {
	if s.opts.Consents == nil {
		return []Consent{}, nil
	}
	list, err := s.opts.Consents.ListConsents(ctx, subjectOf(userID))
	if err != nil {
		return nil, storeErr("list consents", err)
	}
	out := make([]Consent, 0, len(list))
	names := map[string]string{}
	for _, c := range list {
		name, ok := names[c.ClientID]
		if !ok {
			if name, err = s.clientName(ctx, c.ClientID); err != nil {
				return nil, err
			}
			names[c.ClientID] = name
		}
		scopes := c.Scopes
		if scopes == nil {
			scopes = []string{}
		}
		out = append(out, Consent{
			ClientID: c.ClientID, ClientName: name, Scopes: scopes,
			Created: apiTime(c.CreatedAt), Updated: apiTime(c.UpdatedAt),
		})
	}
	return out, nil
}

// clientName is the client's client_name; a client gone meanwhile (its
// consents go with it) has none.
func (s *Service) clientName(ctx context.Context, id string) (string, error) {
	if s.opts.Clients == nil {
		return "", nil
	}
	c, err := s.opts.Clients.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", storeErr("get client", err)
	}
	return c.Name, nil
}

// revokeConsentOf withdraws the user's consent to the client. The user's
// refresh families of the client are revoked first (and with them every
// access token issued in them), then the consent: a failure leaves the
// consent in place, so the request can be repeated.
func (s *Service) revokeConsentOf(ctx context.Context, p *Principal, userID int64, clientID string) error {
	if s.opts.Consents == nil || clientID == "" || len(clientID) > maxClientIDLen {
		return ErrNotFound
	}
	subject := subjectOf(userID)
	c, err := s.opts.Consents.GetConsent(ctx, subject, clientID)
	if err != nil {
		return storeErr("get consent", err)
	}
	now := s.now()
	fams, err := s.opts.Sessions.ListFamilies(ctx, subject, now)
	if err != nil {
		return storeErr("list sessions", err)
	}
	ended := 0
	for _, f := range fams {
		if f.ClientID != clientID {
			continue
		}
		if err := s.opts.Sessions.RevokeFamily(ctx, f.ID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return storeErr("revoke session", err)
		}
		ended++
		s.opts.Audit.Record(ctx, audit.Event{
			Type: audit.TypeSessionRevoked, Actor: p.Actor(), Subject: subject, ClientID: clientID,
			Detail: map[string]string{"session": f.ID, "reason": "consent revoked"},
		})
	}
	if err := s.opts.Consents.RevokeConsent(ctx, subject, clientID); err != nil {
		return storeErr("revoke consent", err)
	}
	s.opts.Audit.Record(ctx, audit.Event{
		Type: audit.TypeConsentRevoked, Actor: p.Actor(), Subject: subject, ClientID: clientID,
		Detail: map[string]string{"scopes": strings.Join(c.Scopes, " "), "sessions_revoked": strconv.Itoa(ended)},
	})
	return nil
}
