// Package importer brings users from elsewhere into latchkey: Django's
// dumpdata JSON (auth.user or a custom user model, groups, permissions and
// content types; .json or .json.gz) and a CSV of users, the same CSV that
// Export writes.
//
// Password hashes are copied as they are, never computed: the local backend
// verifies Django's formats and re-hashes them to argon2id at each user's
// first successful login. Users are written in batches, each one
// transaction (storage.UserImporter). A record that cannot be imported is
// reported with its number and skipped; the rest goes on.
package importer

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/latchkey-auth/latchkey/storage"
)

// DjangoIDKey is the profile attribute that keeps a user's primary key in
// the Django database, so that resource servers can map old foreign keys.
const DjangoIDKey = "django_id"

// DefaultBatchSize is how many users one transaction writes.
const DefaultBatchSize = 1000

// Options say how to read the file and what to do with users that exist.
type Options struct {
	// Format is "dumpdata" or "csv"; empty picks csv for a name ending in
	// .csv and dumpdata otherwise.
	Format string
	// UserModel is the dumpdata model of users, app_label.ModelName
	// (default auth.User); matched ignoring case.
	UserModel string
	// Map sends dumpdata fields elsewhere: field → username, email,
	// first_name, last_name, password, profile.<key>, or "" to drop it.
	// Fields of the user model that are neither standard nor mapped are
	// dropped.
	Map map[string]string
	// Update replaces an existing user (same username) with the file's;
	// otherwise it is skipped.
	Update    bool
	DryRun    bool
	BatchSize int // 0: DefaultBatchSize
	// Progress, when set, hears how many records the file holds and each
	// batch written.
	Progress Progress
}

// Progress reports an import's advance.
type Progress interface {
	Start(total int)
	Add(n int)
	Finish()
}

// Refusal is a record that was not imported.
type Refusal struct {
	Record   int // 1-based: the object in the dumpdata array, the data row of a CSV
	Username string
	Reason   string
}

// Summary is what an import did.
type Summary struct {
	Created, Updated, Unchanged int
	Skipped                     int // existing users left alone (Options.Update not set)
	Refused                     []Refusal
	GroupsCreated               int
	GroupsUpdated               int
	DryRun                      bool
}

// String is the summary as the CLI prints it.
func (s Summary) String() string {
	var b strings.Builder
	if s.DryRun {
		b.WriteString("dry run: nothing was written; an import would have\n")
	}
	fmt.Fprintf(&b, "users:  %d created, %d updated, %d unchanged, %d skipped (exist; --on-conflict skip), %d refused\n",
		s.Created, s.Updated, s.Unchanged, s.Skipped, len(s.Refused))
	fmt.Fprintf(&b, "groups: %d created, %d updated\n", s.GroupsCreated, s.GroupsUpdated)
	for _, r := range s.Refused {
		name := ""
		if r.Username != "" {
			name = fmt.Sprintf(" (%q)", r.Username)
		}
		fmt.Fprintf(&b, "refused record %d%s: %s\n", r.Record, name, r.Reason)
	}
	return b.String()
}

// record is one user read from a file, or the reason it could not be.
type record struct {
	index  int
	user   storage.User
	groups []string
	err    error
}

// source is a file format: a first pass that checks the whole file and
// learns what the users refer to, then the users one at a time.
type source interface {
	// scan reads the whole file once and returns how many users it holds.
	scan(r io.Reader) (int, error)
	// users reads the file again and calls fn for each user record.
	users(r io.Reader, fn func(record) error) error
	groups() []storage.Group
}

// ImportFile imports the users of the file at path.
func ImportFile(ctx context.Context, store storage.UserImporter, path string, opts Options) (Summary, error) {
	src, err := newSource(path, opts)
	if err != nil {
		return Summary{}, err
	}
	open := func() (io.ReadCloser, error) { return openMaybeGzip(path) }
	total, err := withFile(open, src.scan)
	if err != nil {
		return Summary{}, fmt.Errorf("%s: %w", path, err)
	}
	if opts.Progress != nil {
		opts.Progress.Start(total)
		defer opts.Progress.Finish()
	}
	im := &run{store: store, opts: opts, groups: src.groups(), sum: Summary{DryRun: opts.DryRun}}
	if im.opts.BatchSize <= 0 {
		im.opts.BatchSize = DefaultBatchSize
	}
	_, err = withFile(open, func(r io.Reader) (int, error) {
		return 0, src.users(r, func(rec record) error {
			im.batch = append(im.batch, rec)
			if len(im.batch) >= im.opts.BatchSize {
				return im.flush(ctx)
			}
			return nil
		})
	})
	if err == nil {
		err = im.flush(ctx)
	}
	if err == nil && !im.wrote {
		// No user to write: the groups still come in.
		err = im.write(ctx, nil, nil)
	}
	if err != nil {
		return im.sum, fmt.Errorf("%s: %w", path, err)
	}
	return im.sum, nil
}

func newSource(path string, opts Options) (source, error) {
	format := opts.Format
	if format == "" {
		format = "dumpdata"
		if strings.HasSuffix(strings.ToLower(strings.TrimSuffix(path, ".gz")), ".csv") {
			format = "csv"
		}
	}
	switch format {
	case "dumpdata":
		return newDumpSource(opts)
	case "csv":
		if len(opts.Map) > 0 || opts.UserModel != "" {
			return nil, errors.New("--map and --user-model apply to dumpdata files, not to CSV")
		}
		return &csvSource{}, nil
	}
	return nil, fmt.Errorf("unknown format %q (want dumpdata or csv)", format)
}

func withFile(open func() (io.ReadCloser, error), fn func(io.Reader) (int, error)) (int, error) {
	f, err := open()
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return fn(f)
}

// openMaybeGzip opens a file, decompressing it when it starts with gzip's
// magic number, whatever its name.
func openMaybeGzip(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<16)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("read gzip: %w", err)
		}
		return readCloser{zr, f}, nil
	}
	return readCloser{br, f}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// run is one import under way.
type run struct {
	store  storage.UserImporter
	opts   Options
	groups []storage.Group
	batch  []record
	sum    Summary
	wrote  bool
}

func (r *run) refuse(rec record, reason string) {
	r.sum.Refused = append(r.sum.Refused, Refusal{Record: rec.index, Username: rec.user.Username, Reason: reason})
}

// flush writes the batch; a record the store refuses is reported and the
// batch is written again without it.
func (r *run) flush(ctx context.Context) error {
	batch := r.batch
	r.batch = r.batch[:0]
	if len(batch) == 0 {
		return nil
	}
	var users []storage.ImportUser
	var recs []record
	for _, rec := range batch {
		if rec.err != nil {
			r.refuse(rec, rec.err.Error())
			continue
		}
		users = append(users, storage.ImportUser{User: rec.user, Groups: rec.groups})
		recs = append(recs, rec)
	}
	err := r.write(ctx, users, recs)
	if r.opts.Progress != nil {
		r.opts.Progress.Add(len(batch))
	}
	return err
}

func (r *run) write(ctx context.Context, users []storage.ImportUser, recs []record) error {
	r.wrote = true
	for {
		out, err := r.store.ImportUsers(ctx, storage.ImportBatch{Groups: r.groups, Users: users, Update: r.opts.Update, DryRun: r.opts.DryRun})
		var rerr *storage.ImportRecordError
		if errors.As(err, &rerr) && rerr.Index >= 0 && rerr.Index < len(users) {
			r.refuse(recs[rerr.Index], reason(rerr.Err))
			users = append(users[:rerr.Index:rerr.Index], users[rerr.Index+1:]...)
			recs = append(recs[:rerr.Index:rerr.Index], recs[rerr.Index+1:]...)
			continue
		}
		if err != nil {
			if len(recs) > 0 {
				return fmt.Errorf("records %d to %d (nothing of them written): %w", recs[0].index, recs[len(recs)-1].index, err)
			}
			return fmt.Errorf("write groups: %w", err)
		}
		for _, res := range out.Users {
			switch res {
			case storage.ImportCreated:
				r.sum.Created++
			case storage.ImportUpdated:
				r.sum.Updated++
			case storage.ImportUnchanged:
				r.sum.Unchanged++
			case storage.ImportSkipped:
				r.sum.Skipped++
			}
		}
		if r.opts.DryRun {
			// Every batch of a dry run sees the groups missing again.
			r.sum.GroupsCreated = max(r.sum.GroupsCreated, out.GroupsCreated)
			r.sum.GroupsUpdated = max(r.sum.GroupsUpdated, out.GroupsUpdated)
		} else {
			r.sum.GroupsCreated += out.GroupsCreated
			r.sum.GroupsUpdated += out.GroupsUpdated
		}
		return nil
	}
}

// reason is a store's refusal without the sentinel's text.
func reason(err error) string {
	msg := err.Error()
	for _, s := range []error{storage.ErrConflict, storage.ErrNotFound, storage.ErrInvalidInput} {
		msg = strings.TrimSuffix(msg, ": "+s.Error())
	}
	return msg
}
