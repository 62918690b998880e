package server

import (
	"log/slog"
	"time"

	"github.com/latchkey-auth/latchkey/clients/metadatadoc"
	"github.com/latchkey-auth/latchkey/config"
	"github.com/latchkey-auth/latchkey/provider"
)

// clientMetadataDocuments is the resolver of Client ID Metadata Documents
// when oauth2.client_id_metadata_documents is enabled, else nil (off).
func clientMetadataDocuments(cfg config.Config, now func() time.Time, log *slog.Logger, observe func(string)) provider.ClientMetadataDocuments {
	d := cfg.OAuth2.ClientIDMetadataDocuments
	if !d.Enabled {
		return nil
	}
	return metadatadoc.New(metadatadoc.Options{
		AllowHosts: d.AllowHosts, DenyHosts: d.DenyHosts, AllowPrivateAddresses: d.AllowPrivateAddresses,
		Scopes:   d.Scopes,
		CacheMin: d.CacheMin, CacheMax: d.CacheMax, ErrorCacheTTL: d.ErrorCacheTTL,
		MaxBytes: d.MaxBytes, Timeout: d.Timeout, CacheSize: d.CacheSize,
		Now: now, Logger: log, Observe: observe,
	})
}
