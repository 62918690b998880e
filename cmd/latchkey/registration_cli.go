package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey-auth/latchkey/clients"
	"github.com/latchkey-auth/latchkey/server"
)

// registrationTokenCmd is `latchkey clients registration-token`: the
// initial access tokens (lk_iat_) oauth2.registration:
// initial_access_token requires at POST /oauth2/register.
func (c *cli) registrationTokenCmd() *cobra.Command {
	cmd := group("registration-token", "Manage initial access tokens (lk_iat_) for dynamic client registration")
	var (
		name      string
		expiresIn time.Duration
		maxUses   int
	)
	create := &cobra.Command{
		Use:   "create --name NAME [--expires-in 24h] [--max-uses N]",
		Short: "Make an initial access token and print it once",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if expiresIn < 0 || expiresIn%time.Second != 0 {
				return fmt.Errorf("--expires-in: a whole number of seconds, at most %s, got %s", clients.MaxInitialAccessTokenTTL, expiresIn)
			}
			return c.withServer(func(s *server.Server) error {
				t, err := s.Registrar().CreateInitialAccessToken(c.ctx, clients.NewInitialAccessToken{
					Name: name, ExpiresIn: int64(expiresIn / time.Second), MaxUses: maxUses,
				})
				if err != nil {
					return fmt.Errorf("create registration token: %w", err)
				}
				uses := "any number of registrations"
				if t.MaxUses > 0 {
					uses = fmt.Sprintf("%d registration(s)", t.MaxUses)
				}
				fmt.Fprintf(c.stdout, "Initial access token %s (%s), for %s until %s, shown once:\n%s\n",
					t.ID, t.Name, uses, time.Unix(t.ExpiresAt, 0).UTC().Format(time.RFC3339), t.Token)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the token is for (required)")
	create.Flags().DurationVar(&expiresIn, "expires-in", clients.DefaultInitialAccessTokenTTL, "lifetime of the token")
	create.Flags().IntVar(&maxUses, "max-uses", 0, "registrations the token allows (0: any number until it expires)")
	_ = create.MarkFlagRequired("name")
	list := &cobra.Command{
		Use: "list", Short: "List initial access tokens (never the tokens themselves)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return c.withServer(func(s *server.Server) error {
				list, err := s.Registrar().ListInitialAccessTokens(c.ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tNAME\tEXPIRES\tUSES\tMAX_USES")
				for _, t := range list {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\n", t.ID, t.Name, time.Unix(t.ExpiresAt, 0).UTC().Format(time.RFC3339), t.Uses, t.MaxUses)
				}
				return w.Flush()
			})
		},
	}
	del := &cobra.Command{
		Use: "delete ID", Short: "Delete an initial access token; it stops working at once", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return c.withServer(func(s *server.Server) error {
				if err := s.Registrar().DeleteInitialAccessToken(c.ctx, args[0]); err != nil {
					return fmt.Errorf("delete registration token %s: %w", args[0], err)
				}
				fmt.Fprintf(c.stdout, "deleted registration token %s\n", args[0])
				return nil
			})
		},
	}
	cmd.AddCommand(create, list, del)
	return cmd
}
