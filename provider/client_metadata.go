package provider

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"

	"github.com/latchkey-auth/latchkey/storage"
)

// ClientMetadataDocuments resolves client IDs that are URLs of OAuth Client
// ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document);
// package clients/metadatadoc implements it. Such clients are public,
// third-party and never stored: the provider asks for the document each
// time it needs the client (the implementation caches it).
type ClientMetadataDocuments interface {
	// Handles reports whether clientID is to be resolved as a document
	// (it looks like a URL); the store is then never asked.
	Handles(clientID string) bool
	// Resolve returns the client the document at clientID describes. A
	// document that cannot be used is a *MetadataDocumentError.
	Resolve(ctx context.Context, clientID string) (*storage.Client, error)
}

// MetadataDocumentError is a client metadata document refused: not
// fetched (an address or host not allowed, a timeout, a redirect, too
// large) or not valid. Reason is safe to show to the user and the client.
type MetadataDocumentError struct {
	Host   string
	Reason string
}

func (e *MetadataDocumentError) Error() string {
	return "the client metadata document from " + e.Host + " was refused: " + e.Reason
}

// resolveDocument resolves a metadata-document client and makes sure it
// is what such a client may be, whatever the resolver built: public, with
// no secret, never first-party and never the latchkey scope.
func resolveDocument(ctx context.Context, docs ClientMetadataDocuments, id string) (*storage.Client, error) {
	cl, err := docs.Resolve(ctx, id)
	if err != nil {
		var de *MetadataDocumentError
		if errors.As(err, &de) {
			return nil, ErrInvalidClient.WithDescription(de.Error()).WithCause(err)
		}
		return nil, err
	}
	c := *cl
	c.ID = id
	c.SecretHash = ""
	c.TokenEndpointAuthMethod = AuthNone
	c.SkipConsent = false
	c.GrantTypes = slices.DeleteFunc(slices.Clone(c.GrantTypes), func(g string) bool {
		return g != GrantAuthorizationCode && g != GrantRefreshToken
	})
	c.Scope = strings.Join(slices.DeleteFunc(strings.Fields(c.Scope), func(s string) bool { return s == ScopeAPI }), " ")
	return &c, nil
}

// MetadataDocumentHost is the host a metadata-document client's document
// comes from (with its port when it has one), shown on the consent page;
// "" for a registered client.
func (p *Provider) MetadataDocumentHost(clientID string) string {
	if p.clients.docs == nil || !p.clients.docs.Handles(clientID) {
		return ""
	}
	u, err := url.Parse(clientID)
	if err != nil {
		return ""
	}
	return u.Host
}
