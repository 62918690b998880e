package provider

import (
	"errors"
	"net/http"
	"strings"

	"github.com/go-oauth2/oauth2/v4"
	oerrors "github.com/go-oauth2/oauth2/v4/errors"
	"github.com/go-oauth2/oauth2/v4/server"
)

// This file is the one adapter to github.com/go-oauth2/oauth2/v4 (see the
// package doc for what it does for us and what we do ourselves). Nothing of
// the engine leaves this file: callers get our types and our *Error values.

// engine is go-oauth2's server configured for latchkey's authorization
// endpoint: response_type=code only, PKCE with S256 only (RFC 9700 §2.1.1:
// plain is refused). It validates requests; it has no manager and never
// issues or stores anything. pkce forces PKCE; plain is used only for a
// request that sent no PKCE parameter at all, by a client that may leave
// PKCE out (the engine takes a missing method for plain and would refuse
// it).
type engine struct{ pkce, plain *server.Server }

func newEngine() engine {
	pkce := server.NewConfig()
	pkce.AllowedResponseTypes = []oauth2.ResponseType{oauth2.Code}
	pkce.AllowedCodeChallengeMethods = []oauth2.CodeChallengeMethod{oauth2.CodeChallengeS256}
	pkce.ForcePKCE = true
	plain := server.NewConfig()
	plain.AllowedResponseTypes = []oauth2.ResponseType{oauth2.Code}
	plain.AllowedCodeChallengeMethods = []oauth2.CodeChallengeMethod{oauth2.CodeChallengeS256, oauth2.CodeChallengePlain}
	return engine{pkce: server.NewServer(pkce, nil), plain: server.NewServer(plain, nil)}
}

// engineAuthorize are the protocol parameters of an authorization request
// the engine found valid (RFC 6749 §4.1.1, RFC 7636 §4.3).
type engineAuthorize struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string
	State               string
	Scope               string
	CodeChallenge       string
	CodeChallengeMethod string
}

// validateAuthorize checks an authorization request's response type and
// PKCE parameters; requirePKCE is false only for a confidential client
// that sent no PKCE parameter. The client and its redirect URI are not
// checked here: they decide whether an error may be sent back to the
// client at all.
func (e engine) validateAuthorize(r *http.Request, requirePKCE bool) (engineAuthorize, error) {
	srv := e.pkce
	if !requirePKCE {
		srv = e.plain
	}
	req, err := srv.ValidationAuthorizeRequest(r)
	if err != nil {
		return engineAuthorize{}, fromEngine(err)
	}
	if !requirePKCE {
		req.CodeChallengeMethod = ""
	}
	return engineAuthorize{
		ClientID: req.ClientID, RedirectURI: req.RedirectURI, ResponseType: string(req.ResponseType),
		State: req.State, Scope: req.Scope,
		CodeChallenge: req.CodeChallenge, CodeChallengeMethod: string(req.CodeChallengeMethod),
	}, nil
}

// verifyPKCE checks a code_verifier against the S256 code challenge stored
// with an authorization code (RFC 7636 §4.6). The verifier's syntax (§4.1:
// 43 to 128 unreserved characters) is checked first.
func verifyPKCE(challenge, verifier string) error {
	if !validVerifier(verifier) {
		return ErrInvalidGrant.WithDescription("code_verifier must be 43 to 128 unreserved characters")
	}
	if !oauth2.CodeChallengeS256.Validate(challenge, verifier) {
		return ErrInvalidGrant.WithDescription("code_verifier does not match the code_challenge")
	}
	return nil
}

func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	return strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~") == ""
}

// ErrUnsupportedResponseType is RFC 6749 §4.1.2.1's answer to a
// response_type other than code.
var ErrUnsupportedResponseType = &Error{Code: "unsupported_response_type", Status: http.StatusBadRequest}

// fromEngine translates the engine's errors into ours. Its descriptions
// and statuses are not used.
func fromEngine(err error) *Error {
	switch {
	case errors.Is(err, oerrors.ErrCodeChallengeRquired):
		return ErrInvalidRequest.WithDescription("code_challenge is required (PKCE with S256)")
	case errors.Is(err, oerrors.ErrInvalidCodeChallengeLen):
		return ErrInvalidRequest.WithDescription("code_challenge must be 43 to 128 characters")
	case errors.Is(err, oerrors.ErrUnsupportedCodeChallengeMethod):
		return ErrInvalidRequest.WithDescription("code_challenge_method must be S256")
	case errors.Is(err, oerrors.ErrUnsupportedResponseType), errors.Is(err, oerrors.ErrUnauthorizedClient):
		// The engine answers a known but disallowed response type (token)
		// with unauthorized_client; to the client both are unsupported.
		return ErrUnsupportedResponseType.WithDescription(`response_type must be "code"`)
	case errors.Is(err, oerrors.ErrInvalidRequest):
		return ErrInvalidRequest.WithDescription("client_id is required")
	}
	return ErrServerError.WithCause(err)
}
