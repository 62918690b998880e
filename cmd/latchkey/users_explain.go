package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/latchkey-auth/latchkey/provider"
	"github.com/latchkey-auth/latchkey/server"
	"github.com/latchkey-auth/latchkey/storage"
)

func (c *cli) usersExplainCmd() *cobra.Command {
	var clientID, scope string
	cmd := &cobra.Command{
		Use:   "explain USER",
		Short: "Show the scopes and claims a token for USER would get, and the rule behind each line",
		Long: `Show what the permission mapper (permissions: in the configuration) grants
USER (a username, e-mail or ID) when the client --client asks for --scope (every
scope of the client when --scope is empty), without issuing anything. Lines
marked + were granted, - refused, each with the rule that decided it. See
docs/permissions.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if clientID == "" {
				return errors.New("--client is required")
			}
			return c.withServer(func(s *server.Server) error {
				u, err := findUser(c, s, args[0])
				if err != nil {
					return err
				}
				ex, err := s.Provider().Explain(c.ctx, u.ID, clientID, scope)
				if ex == nil {
					if errors.Is(err, storage.ErrNotFound) {
						return fmt.Errorf("no client %q", clientID)
					}
					return err
				}
				c.printExplanation(u, clientID, ex)
				if errors.Is(err, provider.ErrInvalidScope) {
					return errors.New("no requested scope can be granted: the token endpoint answers invalid_scope")
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&clientID, "client", "", "client ID (required)")
	cmd.Flags().StringVar(&scope, "scope", "", `space-separated scopes, e.g. "openid products:read" (default: every scope of the client)`)
	return cmd
}

// findUser finds a user by username, e-mail or ID.
func findUser(c *cli, s *server.Server, login string) (storage.User, error) {
	u, err := s.Store().UserByUsername(c.ctx, login)
	if errors.Is(err, storage.ErrNotFound) {
		u, err = s.Store().UserByEmail(c.ctx, login)
	}
	if id, perr := strconv.ParseInt(login, 10, 64); errors.Is(err, storage.ErrNotFound) && perr == nil {
		u, err = s.Store().GetUser(c.ctx, id)
	}
	if errors.Is(err, storage.ErrNotFound) {
		return u, fmt.Errorf("no user %q", login)
	}
	return u, err
}

func (c *cli) printExplanation(u storage.User, clientID string, ex *provider.Explanation) {
	w := c.stdout
	fmt.Fprintf(w, "user %s (id %d), client %s\n", u.Username, u.ID, clientID)
	fmt.Fprintf(w, "granted scope: %q\n", ex.Scope)
	fmt.Fprintln(w, "claims:")
	fmt.Fprintf(w, "  %-12s %s\n", "groups", jsonText(ex.Groups))
	fmt.Fprintf(w, "  %-12s %s\n", "permissions", jsonText(ex.Permissions))
	names := make([]string, 0, len(ex.Claims))
	for k := range ex.Claims {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "  %-12s %s (ID token and userinfo)\n", k, jsonText(ex.Claims[k]))
	}
	fmt.Fprintln(w, "rules:")
	for _, s := range ex.Trace {
		fmt.Fprintf(w, "  %s\n", s)
	}
}

func jsonText(v any) string {
	if v == nil {
		v = []string{}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
