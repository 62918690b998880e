package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/latchkey-auth/latchkey/server"
	"github.com/latchkey-auth/latchkey/storage"
)

// cliActor names the CLI in the audit events of its changes.
const cliActor = "cli"

func (c *cli) adminCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "admin", Short: "Administer latchkey's own access: admin API keys"}
	keys := &cobra.Command{Use: "keys", Short: "Manage admin API keys (lk_ak_), which authorize /admin/ only"}
	var name string
	create := &cobra.Command{
		Use: "create --name NAME", Short: "Make an admin API key and print it once", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return c.withServer(func(s *server.Server) error {
				k, err := s.Accounts().CreateAdminKey(c.ctx, name)
				if err != nil {
					return fmt.Errorf("create admin key: %w", err)
				}
				fmt.Fprintf(c.stdout, "Admin API key %s (%s), shown once:\n%s\n", k.ID, k.Name, k.Key)
				return nil
			})
		},
	}
	create.Flags().StringVar(&name, "name", "", "what the key is for (required)")
	_ = create.MarkFlagRequired("name")
	list := &cobra.Command{
		Use: "list", Short: "List admin API keys (never the keys themselves)", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return c.withServer(func(s *server.Server) error {
				list, err := s.Accounts().ListAdminKeys(c.ctx)
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tNAME\tCREATED")
				for _, k := range list {
					fmt.Fprintf(w, "%s\t%s\t%s\n", k.ID, k.Name, k.Created.Format(time.RFC3339))
				}
				return w.Flush()
			})
		},
	}
	revoke := &cobra.Command{
		Use: "revoke ID", Short: "Revoke an admin API key; it stops working at once", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return c.withServer(func(s *server.Server) error {
				if err := s.Accounts().RevokeAdminKey(c.ctx, args[0]); err != nil {
					return fmt.Errorf("revoke admin key %s: %w", args[0], err)
				}
				fmt.Fprintf(c.stdout, "revoked admin API key %s\n", args[0])
				return nil
			})
		},
	}
	keys.AddCommand(create, list, revoke)
	cmd.AddCommand(keys)
	return cmd
}

// Bounds of events tail --interval.
const (
	minTailInterval = 100 * time.Millisecond
	maxTailInterval = time.Minute
	// maxTailCatchUp is the most events one poll prints.
	maxTailCatchUp = 1000
)

func (c *cli) eventsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Read the audit events"}
	var (
		n        int
		follow   bool
		interval time.Duration
		q        storage.AuditQuery
	)
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print the newest audit events as JSON lines, oldest first; --follow keeps printing new ones",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if n < 0 || n > maxTailCatchUp {
				return fmt.Errorf("-n: want 0 to %d, got %d", maxTailCatchUp, n)
			}
			interval = min(max(interval, minTailInterval), maxTailInterval)
			return c.withServer(func(s *server.Server) error {
				return c.tailEvents(s.Store(), q, n, follow, interval)
			})
		},
	}
	f := tail.Flags()
	f.IntVarP(&n, "lines", "n", 20, "how many of the newest events to print first")
	f.BoolVarP(&follow, "follow", "f", false, "keep printing new events until interrupted")
	f.DurationVar(&interval, "interval", 2*time.Second, "how often --follow polls the store (100ms to 1m)")
	f.StringVar(&q.Type, "type", "", "only events of this type (login.failed, …)")
	f.StringVar(&q.Subject, "user", "", "only events about this user ID")
	f.StringVar(&q.ClientID, "client-id", "", "only events of this client")
	cmd.AddCommand(tail)
	return cmd
}

// tailEvents prints the newest n events, then, with follow, polls for newer
// ones every interval until the context ends.
func (c *cli) tailEvents(store storage.AuditEvents, q storage.AuditQuery, n int, follow bool, interval time.Duration) error {
	newest, err := newerEvents(c.ctx, store, q, "", max(n, 1))
	if err != nil {
		return err
	}
	last := ""
	if len(newest) > 0 {
		last = newest[0].ID
	}
	if len(newest) > n {
		newest = newest[:n]
	}
	if err := c.printEvents(newest); err != nil {
		return err
	}
	if !follow {
		return nil
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return nil
		case <-t.C:
		}
		fresh, err := newerEvents(c.ctx, store, q, last, maxTailCatchUp)
		if err != nil {
			if c.ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(c.stderr, "events tail: %v (retrying)\n", err)
			continue
		}
		if len(fresh) == 0 {
			continue
		}
		last = fresh[0].ID
		if err := c.printEvents(fresh); err != nil {
			return err
		}
	}
}

// newerEvents returns, newest first, the events after the one with ID
// after (all when after is empty or no longer stored), at most limit.
func newerEvents(ctx context.Context, store storage.AuditEvents, q storage.AuditQuery, after string, limit int) ([]storage.AuditEvent, error) {
	var out []storage.AuditEvent
	q.Cursor = ""
	for len(out) < limit {
		q.Limit = min(limit-len(out), 100)
		page, next, err := store.ListAuditEvents(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("list audit events: %w", err)
		}
		for i, e := range page {
			if after != "" && e.ID == after {
				return append(out, page[:i]...), nil
			}
		}
		out = append(out, page...)
		if next == "" {
			break
		}
		q.Cursor = next
	}
	return out, nil
}

// printEvents writes events given newest first as JSON lines, oldest first.
func (c *cli) printEvents(events []storage.AuditEvent) error {
	enc := json.NewEncoder(c.stdout)
	for _, e := range slices.Backward(events) {
		if err := enc.Encode(eventLine(e)); err != nil {
			return err
		}
	}
	return nil
}

// eventLine is an event as tail prints it: the admin API's names.
func eventLine(e storage.AuditEvent) any {
	return struct {
		ID        string            `json:"id"`
		Time      time.Time         `json:"time"`
		Type      string            `json:"type"`
		Outcome   string            `json:"outcome"`
		Actor     string            `json:"actor,omitempty"`
		Subject   string            `json:"subject,omitempty"`
		ClientID  string            `json:"client_id,omitempty"`
		Backend   string            `json:"backend,omitempty"`
		IP        string            `json:"ip,omitempty"`
		UserAgent string            `json:"user_agent,omitempty"`
		Detail    map[string]string `json:"detail,omitempty"`
	}{e.ID, e.Time, e.Type, e.Outcome, e.Actor, e.Subject, e.ClientID, e.Backend, e.IP, e.UserAgent, e.Detail}
}
