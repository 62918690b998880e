package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/latchkey-auth/latchkey/importer"
	"github.com/latchkey-auth/latchkey/server"
	"github.com/latchkey-auth/latchkey/storage"
)

// errRefused makes the exit status non-zero when a record was refused; the
// summary printed before says which.
var errRefused = errors.New("some records were refused (see the summary)")

func (c *cli) usersImportCmd() *cobra.Command {
	var opts importer.Options
	var onConflict string
	var maps []string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import users, groups and permissions from Django's dumpdata (.json, .json.gz) or a users CSV",
		Long: `Import users from Django's dumpdata JSON (or .json.gz):

  python manage.py dumpdata auth.user auth.group auth.permission contenttypes > users.json
  latchkey users import users.json

or from a CSV with the header row
  ` + strings.Join(importer.CSVColumns, ",") + `
(the file "latchkey users export" writes). Password hashes are copied as they
are and upgraded to argon2id at each user's first login. See
docs/migrating-from-django.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			switch onConflict {
			case "skip":
			case "update":
				opts.Update = true
			default:
				return fmt.Errorf("--on-conflict %q: want skip or update", onConflict)
			}
			opts.Map = map[string]string{}
			for _, m := range maps {
				field, target, ok := strings.Cut(m, "=")
				if !ok || field == "" {
					return fmt.Errorf("--map %q: want FIELD=TARGET, as in department=profile.department", m)
				}
				opts.Map[field] = target
			}
			path := args[0]
			if _, err := os.Stat(path); err != nil {
				return err
			}
			return c.withServer(func(s *server.Server) error {
				store, ok := s.Store().(storage.UserImporter)
				if !ok {
					return errors.New("this storage driver cannot import users")
				}
				opts.Progress = c.progress()
				sum, err := importer.ImportFile(c.ctx, store, path, opts)
				fmt.Fprint(c.stdout, sum.String())
				if err != nil {
					return err
				}
				if len(sum.Refused) > 0 {
					return errRefused
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Format, "format", "", "dumpdata or csv (default: csv for *.csv, dumpdata otherwise)")
	f.StringVar(&opts.UserModel, "user-model", "", "the user model of a dumpdata file, app_label.ModelName (default auth.User)")
	f.StringArrayVar(&maps, "map", nil, "FIELD=TARGET: put a user-model field in username, email, first_name, last_name, password or profile.KEY (repeatable)")
	f.StringVar(&onConflict, "on-conflict", "skip", "a user whose username exists: skip (leave it) or update (replace it with the file's)")
	f.BoolVar(&opts.DryRun, "dry-run", false, "read and check everything, print the summary, write nothing")
	f.IntVar(&opts.BatchSize, "batch-size", importer.DefaultBatchSize, "users per transaction")
	return cmd
}

func (c *cli) usersExportCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "export FILE",
		Short: "Write every user as the CSV that users import reads (- for stdout; it holds password hashes)",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			return c.withServer(func(s *server.Server) error {
				w := c.stdout
				if args[0] != "-" {
					f, err := os.OpenFile(args[0], os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
					if err != nil {
						return err
					}
					defer f.Close()
					w = f
				}
				n, err := importer.Export(c.ctx, s.Store(), w)
				if err != nil {
					return err
				}
				if f, ok := w.(*os.File); ok && f != os.Stdout {
					if err := f.Close(); err != nil {
						return err
					}
					fmt.Fprintf(c.stderr, "exported %d users to %s\n", n, args[0])
				}
				return nil
			})
		},
	}
}

// progress is a bar on a terminal and a line at every tenth otherwise.
func (c *cli) progress() importer.Progress {
	if f, ok := c.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &barProgress{out: f}
	}
	return &lineProgress{out: c.stderr}
}

type barProgress struct {
	out io.Writer
	bar *progressbar.ProgressBar
}

func (p *barProgress) Start(total int) {
	p.bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(p.out), progressbar.OptionSetDescription("importing users"),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("users"),
		progressbar.OptionThrottle(100_000_000), progressbar.OptionClearOnFinish())
}
func (p *barProgress) Add(n int) { _ = p.bar.Add(n) }
func (p *barProgress) Finish()   { _ = p.bar.Finish() }

type lineProgress struct {
	out         io.Writer
	total, done int
	tenth       int
}

func (p *lineProgress) Start(total int) {
	p.total = total
	fmt.Fprintf(p.out, "importing %d users\n", total)
}

func (p *lineProgress) Add(n int) {
	p.done += n
	if p.total == 0 {
		return
	}
	if t := p.done * 10 / p.total; t > p.tenth {
		p.tenth = t
		fmt.Fprintf(p.out, "%d of %d users (%d%%)\n", p.done, p.total, p.done*100/p.total)
	}
}

func (p *lineProgress) Finish() {}
