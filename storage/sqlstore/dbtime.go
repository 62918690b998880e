package sqlstore

import (
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/schema"
)

// dbTime is a time column. SQLite has no time type, so there it is INTEGER
// Unix milliseconds: compact, and indexes compare it as a number. Postgres
// gets a real TIMESTAMPTZ. Both keep milliseconds, in UTC, so the dialects
// agree to the millisecond; the zero time is NULL.
type dbTime time.Time

// pgTimeLayout is what Postgres parses as a UTC timestamptz.
const pgTimeLayout = "2006-01-02 15:04:05.000Z07:00"

// AppendQuery writes the time the way the dialect stores it; bun calls it for
// model fields and query arguments alike.
func (t dbTime) AppendQuery(gen schema.QueryGen, b []byte) ([]byte, error) {
	tm := time.Time(t)
	if tm.IsZero() {
		return dialect.AppendNull(b), nil
	}
	tm = tm.UTC().Truncate(time.Millisecond)
	if gen.Dialect().Name() == dialect.SQLite {
		return strconv.AppendInt(b, tm.UnixMilli(), 10), nil
	}
	b = append(b, '\'')
	b = tm.AppendFormat(b, pgTimeLayout)
	return append(b, "'::timestamptz"...), nil
}

// Scan reads INTEGER milliseconds (SQLite) or a timestamp (Postgres).
func (t *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*t = dbTime{}
	case int64:
		*t = dbTime(time.UnixMilli(v).UTC())
	case time.Time:
		*t = dbTime(v.UTC())
	default:
		return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
	}
	return nil
}

// Time returns the time in UTC; zero stays zero.
func (t dbTime) Time() time.Time { return time.Time(t) }
