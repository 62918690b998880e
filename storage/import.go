package storage

import (
	"context"
	"fmt"
)

// ImportUser is one user of an import batch and the names of its groups.
type ImportUser struct {
	User   User     // User.ID is ignored
	Groups []string // each in the batch's Groups or stored already
}

// ImportBatch is what one ImportUsers call writes.
type ImportBatch struct {
	// Groups are created when missing. A stored group with other
	// permissions gets the batch's when Update is set and keeps its own
	// otherwise.
	Groups []Group
	Users  []ImportUser
	// Update decides what happens to a user whose username is stored:
	// its fields and groups are replaced by the batch's (ImportUpdated);
	// without Update it stays as it is (ImportSkipped). Either way a
	// stored user equal to the batch's is ImportUnchanged.
	Update bool
	// DryRun rolls the transaction back: the outcome says what would have
	// been written, and nothing is.
	DryRun bool
}

// ImportResult says what an import did with one user.
type ImportResult int

// What an import did with a user.
const (
	ImportCreated ImportResult = iota + 1
	ImportUpdated
	ImportUnchanged
	ImportSkipped
)

func (r ImportResult) String() string {
	switch r {
	case ImportCreated:
		return "created"
	case ImportUpdated:
		return "updated"
	case ImportUnchanged:
		return "unchanged"
	case ImportSkipped:
		return "skipped"
	}
	return fmt.Sprintf("ImportResult(%d)", int(r))
}

// ImportOutcome is what an ImportUsers call did.
type ImportOutcome struct {
	Users         []ImportResult // one per batch user, in order
	GroupsCreated int
	GroupsUpdated int
}

// ImportRecordError names the user of a batch that made the whole batch
// fail: Err wraps ErrConflict (its username comes twice in the batch, or its
// e-mail belongs to another user), ErrNotFound (a group that exists nowhere)
// or ErrInvalidInput (text that is not valid).
type ImportRecordError struct {
	Index int // into ImportBatch.Users
	Err   error
}

func (e *ImportRecordError) Error() string {
	return fmt.Sprintf("user %d of the batch: %v", e.Index, e.Err)
}

func (e *ImportRecordError) Unwrap() error { return e.Err }

// UserImporter writes users, groups and memberships in bulk.
type UserImporter interface {
	// ImportUsers writes the batch in one transaction: on any error
	// nothing of it is written. A user is matched to a stored one by
	// username, ignoring case. A refused user is an *ImportRecordError;
	// the caller may drop it and call again with the rest.
	ImportUsers(ctx context.Context, b ImportBatch) (ImportOutcome, error)
}
