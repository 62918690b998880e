package provider

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/latchkey-auth/latchkey/storage"
)

// fakeDocs resolves every https client ID to a client that claims more
// than a metadata-document client may have, or refuses it.
type fakeDocs struct {
	refuse   bool
	resolves int
}

func (d *fakeDocs) Handles(id string) bool { return strings.HasPrefix(id, "https://") }

func (d *fakeDocs) Resolve(_ context.Context, id string) (*storage.Client, error) {
	d.resolves++
	if d.refuse {
		return nil, &MetadataDocumentError{Host: "agent.example", Reason: "the document's client_id is not the URL it was fetched from"}
	}
	return &storage.Client{
		ID: "someone-else", Name: "Agent", SecretHash: "x", TokenEndpointAuthMethod: AuthSecretBasic, SkipConsent: true,
		GrantTypes: []string{GrantAuthorizationCode, GrantClientCredentials, GrantRefreshToken}, ResponseTypes: []string{"code"},
		RedirectURIs: []string{"http://127.0.0.1/callback"}, Scope: "openid " + ScopeAPI + " profile", AccessTokenFormat: "jwt",
	}, nil
}

func TestMetadataDocumentClients(t *testing.T) {
	f := newCodeFlow(t)
	docs := &fakeDocs{}
	f.p.clients.docs = docs
	const id = "https://agent.example:8443/oauth/client.json"
	_, challenge := pkcePair("m")
	q := url.Values{
		"response_type": {"code"}, "client_id": {id}, "redirect_uri": {"http://127.0.0.1/callback"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}

	t.Run("a resolved client is public, third-party and never has the latchkey scope", func(t *testing.T) {
		req, err := f.p.ParseAuthorize(t.Context(), authorizeGET(q))
		if err != nil {
			t.Fatal(err)
		}
		cl := req.Client
		if cl.ID != id || cl.SkipConsent || cl.SecretHash != "" || cl.TokenEndpointAuthMethod != AuthNone {
			t.Fatalf("client %+v", cl)
		}
		if cl.Scope != "openid profile" || req.Scope != "openid profile" {
			t.Fatalf("client scope %q, granted %q", cl.Scope, req.Scope)
		}
		if strings.Join(cl.GrantTypes, " ") != "authorization_code refresh_token" {
			t.Fatalf("grant types %v", cl.GrantTypes)
		}
		if req.ClientHost != "agent.example:8443" {
			t.Fatalf("ClientHost %q", req.ClientHost)
		}
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = v
		}
		q2.Set("scope", ScopeAPI)
		if _, err := f.p.ParseAuthorize(t.Context(), authorizeGET(q2)); !errors.Is(err, ErrInvalidScope) {
			t.Fatalf("the latchkey scope asked for: %v", err)
		}
	})

	t.Run("a registered client is still read from the store", func(t *testing.T) {
		before := docs.resolves
		cl, err := f.p.clients.get(t.Context(), "cli")
		if err != nil || cl.ID != "cli" || docs.resolves != before || f.p.MetadataDocumentHost("cli") != "" {
			t.Fatalf("%+v %v (%d resolves)", cl, err, docs.resolves-before)
		}
	})

	t.Run("a refused document is invalid_client with its reason, and no request to redirect to", func(t *testing.T) {
		docs.refuse = true
		defer func() { docs.refuse = false }()
		req, err := f.p.ParseAuthorize(t.Context(), authorizeGET(q))
		if req != nil || !errors.Is(err, ErrInvalidClient) {
			t.Fatalf("req %v, err %v", req, err)
		}
		var de *MetadataDocumentError
		if !errors.As(err, &de) || !strings.Contains(AsError(err).Description, "client_id is not the URL") {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("discovery says client_id_metadata_document_supported only when on", func(t *testing.T) {
		var d map[string]any
		raw, err := f.p.Discovery(t.Context())
		if err != nil || json.Unmarshal(raw, &d) != nil || d["client_id_metadata_document_supported"] != true {
			t.Fatalf("on: %v %v", d["client_id_metadata_document_supported"], err)
		}
		f.p.clients.docs = nil
		defer func() { f.p.clients.docs = docs }()
		raw, _ = f.p.Discovery(t.Context())
		d = nil
		_ = json.Unmarshal(raw, &d)
		if _, ok := d["client_id_metadata_document_supported"]; ok {
			t.Fatal("off, discovery still offers metadata documents")
		}
		if _, err := f.p.ParseAuthorize(t.Context(), authorizeGET(q)); !errors.Is(err, ErrInvalidClient) {
			t.Fatalf("off, a URL client_id: %v", err)
		}
	})
}
