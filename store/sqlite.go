package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLiteFile is the name of the database file inside the data directory.
const SQLiteFile = "chatnode.db"

// sqliteSynchronous is the synchronous setting of every connection.
//
// In WAL mode a commit appends the transaction to the -wal file before it
// returns, whatever this setting says; what synchronous decides is whether
// it also waits for the disk. FULL fsyncs the WAL at every commit, so a
// commit that returned survives a process crash (kill -9) and a power loss
// or kernel panic. NORMAL would skip that fsync: still safe against a
// process crash, because the data is in the operating system's page cache,
// but the last commits could be lost with the machine. The Writer's group
// commit pays one fsync per batch, not per message, so FULL is affordable
// and is what "nothing accepted may be lost" asks for.
const sqliteSynchronous = "FULL"

// applyYield is how many changes Apply writes before it lets other
// goroutines run; a block's messages count when the block is written. The
// journal's applier writes thousands of changes in one transaction, many
// milliseconds of processor time; yielding in between keeps the requests
// and actors waiting for a processor from waiting that long (p99 delivery
// under load fell from 100–120 ms to 80–90 ms when it came in).
const applyYield = 32

// SQLite is the Store kept in one SQLite file, for a standalone node. It
// uses one connection for all writes (SQLite has one writer at a time) and
// a pool of read-only connections that WAL mode lets run beside it.
type SQLite struct {
	dataDir string
	w       *sql.DB // exactly one connection; every write goes through it
	r       *sql.DB // read-only connections

	// stmts are the write statements compiled on the write connection;
	// only code running in that connection's Raw callback touches them.
	stmts *sqliteStmts

	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating it if needed) dataDir/chatnode.db and brings
// its schema up to date. Errors name the data_dir setting and the path.
func OpenSQLite(ctx context.Context, dataDir string) (*SQLite, error) {
	if dataDir == "" {
		return nil, errors.New("data_dir is empty")
	}
	if err := prepareDataDir(dataDir); err != nil {
		return nil, err
	}
	file := filepath.Join(dataDir, SQLiteFile)
	if fi, err := os.Stat(file); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("data_dir %q: %s is not a regular file", dataDir, SQLiteFile)
	}
	s := &SQLite{dataDir: dataDir}
	var err error
	s.w, err = sql.Open("sqlite", sqliteDSN(file, false))
	if err != nil {
		return nil, s.openError(err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	if err := s.migrate(ctx); err != nil {
		s.w.Close()
		return nil, s.openError(err)
	}
	s.r, err = sql.Open("sqlite", sqliteDSN(file, true))
	if err != nil {
		s.w.Close()
		return nil, s.openError(err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	s.r.SetMaxOpenConns(n)
	s.r.SetMaxIdleConns(n)
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, s.openError(err)
	}
	return s, nil
}

// prepareDataDir makes sure dataDir is a directory, creating it if missing.
func prepareDataDir(dataDir string) error {
	fi, err := os.Stat(dataDir)
	switch {
	case err == nil && !fi.IsDir():
		return fmt.Errorf("data_dir %q: not a directory", dataDir)
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dataDir, 0o750); err != nil {
			return fmt.Errorf("data_dir %q: create: %w", dataDir, err)
		}
	case err != nil:
		return fmt.Errorf("data_dir %q: %w", dataDir, err)
	}
	return nil
}

// sqliteDSN is the driver's name for the file, with the settings each
// connection starts with.
func sqliteDSN(file string, readOnly bool) string {
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "synchronous("+sqliteSynchronous+")")
	// Statement journals and sorts (a recovery sorts the messages of every
	// open chat) in memory: in temporary files they cost a write call a
	// page.
	q.Add("_pragma", "temp_store(MEMORY)")
	if readOnly {
		q.Set("_query_only", "1")
	} else {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "cache_size(-65536)")
		// Take the write lock at BEGIN, so that a transaction never fails
		// half way when another process holds the file.
		q.Set("_txlock", "immediate")
	}
	return "file:" + (&url.URL{Path: file}).EscapedPath() + "?" + q.Encode()
}

// openError turns a failure to open into an error naming data_dir.
func (s *SQLite) openError(err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("data_dir %q: %s is not a database (file is corrupt or not SQLite): %w", s.dataDir, SQLiteFile, err)
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY:
			return fmt.Errorf("data_dir %q: cannot open %s for writing: %w", s.dataDir, SQLiteFile, err)
		}
	}
	return fmt.Errorf("data_dir %q: open %s: %w", s.dataDir, SQLiteFile, err)
}

// migrate applies the embedded SQLite migrations in one transaction.
func (s *SQLite) migrate(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`); err != nil {
		return err
	}
	err = migrate(ctx, "sqlite", migrator{
		exec: func(ctx context.Context, script string) error {
			_, err := tx.ExecContext(ctx, script)
			return err
		},
		applied: func(ctx context.Context) ([]int, error) {
			rows, err := tx.QueryContext(ctx, `SELECT version FROM schema_migrations`)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var vs []int
			for rows.Next() {
				var v int
				if err := rows.Scan(&v); err != nil {
					return nil, err
				}
				vs = append(vs, v)
			}
			return vs, rows.Err()
		},
		record: func(ctx context.Context, m migration) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, time.Now().UnixMilli())
			return err
		},
	})
	if err != nil {
		return err
	}
	return tx.Commit()
}

// The write statements, by index into sqliteWriteSQL and sqliteStmts.
const (
	stUpsertVisitor = iota
	stUpsertChat
	stInsertBlock
	stAddToBlock
	stLastSeq
	stStoredMessages
	stUpsertOperator
	stUpsertRead
	stCount
)

// sqliteWriteSQL is the text of each write statement.
var sqliteWriteSQL = [stCount]string{
	stUpsertVisitor: `INSERT INTO visitors (id, page_id, auth_token, device_id, fields, created_at, seen_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET page_id = excluded.page_id, auth_token = excluded.auth_token,
				device_id = excluded.device_id, fields = excluded.fields, created_at = excluded.created_at,
				seen_at = excluded.seen_at`,
	stUpsertChat: `INSERT INTO chats (id, visitor_id, client_side_id, department_key, state, operator_id,
				queued_at, created_at, modified_at, closed_at, rate, rated_operator_id, next_seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET visitor_id = excluded.visitor_id, client_side_id = excluded.client_side_id,
				department_key = excluded.department_key, state = excluded.state, operator_id = excluded.operator_id,
				queued_at = excluded.queued_at, created_at = excluded.created_at, modified_at = excluded.modified_at,
				closed_at = excluded.closed_at, rate = excluded.rate, rated_operator_id = excluded.rated_operator_id,
				next_seq = excluded.next_seq`,
	stInsertBlock: `INSERT INTO message_blocks (chat_id, first_seq, last_seq, messages) VALUES (?, ?, ?, ?)`,
	// Adds message element ?3 at seq ?2 to the block of chat ?1 whose
	// range holds ?2, if there is one.
	stAddToBlock: `UPDATE message_blocks SET messages = (
				SELECT jsonb_group_array(v ORDER BY v ->> 0)
				FROM (SELECT e.value AS v FROM jsonb_each(messages) e UNION ALL SELECT ?3))
			WHERE rowid = (SELECT rowid FROM message_blocks WHERE chat_id = ?1 AND last_seq > ?2
				ORDER BY last_seq LIMIT 1) AND first_seq < ?2`,
	stLastSeq: sqliteLastSeq,
	// The stored messages of chat ?1 from seq ?2 to ?3: seq, kind,
	// author_id, text, client_side_id.
	stStoredMessages: `SELECT e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 4, e.value ->> 5
			FROM message_blocks b, jsonb_each(b.messages) e
			WHERE b.chat_id = ?1 AND b.last_seq >= ?2 AND b.first_seq <= ?3 AND e.value ->> 0 BETWEEN ?2 AND ?3`,
	stUpsertOperator: `INSERT INTO operator_states (operator_id, status, last_assigned_at, updated_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (operator_id) DO UPDATE SET status = excluded.status,
				last_assigned_at = excluded.last_assigned_at, updated_at = excluded.updated_at`,
	stUpsertRead: `INSERT INTO reads (chat_id, side, up_to_seq) VALUES (?, ?, ?)
			ON CONFLICT (chat_id, side) DO UPDATE SET up_to_seq = excluded.up_to_seq`,
}

// sqliteLastSeq is a chat's highest stored seq, 0 if it has no messages.
const sqliteLastSeq = `SELECT COALESCE(MAX(last_seq), 0) FROM message_blocks WHERE chat_id = ?`

// sqliteStmts are the write statements compiled on one driver connection.
// Writes go to the driver directly: the journal's applier runs thousands
// of statements a transaction, and database/sql converted, copied and
// locked around each of them (a fifth of the applier's processor time).
type sqliteStmts struct {
	conn  any // the driver connection they were compiled on
	stmts [stCount]driver.Stmt
}

// prepare compiles the write statements on the write connection, so that
// a broken statement shows at open.
func (s *SQLite) prepare(ctx context.Context) error {
	return s.onWriter(ctx, func(*sqliteStmts, any) error { return nil })
}

// onWriter runs fn on the write connection with its compiled statements,
// compiling them first when the connection is new.
func (s *SQLite) onWriter(ctx context.Context, fn func(st *sqliteStmts, dc any) error) error {
	return s.rawWriter(ctx, func(dc any) error {
		if s.stmts == nil || s.stmts.conn != dc {
			st, err := compileStmts(ctx, dc)
			if err != nil {
				return fmt.Errorf("prepare: %w", err)
			}
			s.stmts = st
		}
		return fn(s.stmts, dc)
	})
}

// rawWriter runs fn with the write connection's driver connection.
func (s *SQLite) rawWriter(ctx context.Context, fn func(dc any) error) error {
	c, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(fn)
}

func compileStmts(ctx context.Context, dc any) (*sqliteStmts, error) {
	pc, ok := dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("driver connection %T cannot prepare with a context", dc)
	}
	st := &sqliteStmts{conn: dc}
	for i, q := range sqliteWriteSQL {
		ds, err := pc.PrepareContext(ctx, q)
		if err != nil {
			st.close()
			return nil, err
		}
		st.stmts[i] = ds
	}
	return st, nil
}

// close finalizes the statements compiled so far.
func (st *sqliteStmts) close() error {
	var errs []error
	for _, ds := range st.stmts {
		if ds != nil {
			errs = append(errs, ds.Close())
		}
	}
	return errors.Join(errs...)
}

// Apply implements Store.
func (s *SQLite) Apply(ctx context.Context, changes []Change) error {
	if err := validate(changes); err != nil {
		return err
	}
	if len(changes) == 0 {
		return nil
	}
	return s.inTx(ctx, "apply", true, changes)
}

// check returns what Apply would return for changes, in a transaction
// that is rolled back.
func (s *SQLite) check(ctx context.Context, changes []Change) error {
	return s.inTx(ctx, "check", false, changes)
}

// inTx writes changes in one transaction on the write connection and
// commits it, or rolls it back when commit is false.
func (s *SQLite) inTx(ctx context.Context, op string, commit bool, changes []Change) error {
	return s.onWriter(ctx, func(st *sqliteStmts, dc any) error {
		bc, ok := dc.(driver.ConnBeginTx)
		if !ok {
			return fmt.Errorf("store: %s: driver connection %T cannot begin with a context", op, dc)
		}
		tx, err := bc.BeginTx(ctx, driver.TxOptions{})
		if err != nil {
			return fmt.Errorf("store: %s: begin: %w", op, err)
		}
		b := sqliteBatch{ctx: ctx, st: st, yield: commit}
		for i := range changes {
			if err = b.apply(&changes[i]); err != nil {
				break
			}
		}
		if err == nil {
			err = b.writeMessages()
		}
		if err != nil || !commit {
			if rerr := tx.Rollback(); rerr != nil && err == nil {
				err = fmt.Errorf("store: %s: rollback: %w", op, rerr)
			}
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: %s: commit: %w", op, err)
		}
		return nil
	})
}

// sqliteBatch runs the write statements of one transaction, with one
// argument list for all of them.
type sqliteBatch struct {
	ctx    context.Context
	st     *sqliteStmts
	args   [13]driver.NamedValue // as many as the widest statement (stUpsertChat) binds
	row    [5]driver.Value       // a row read by a statement, as wide as stStoredMessages reads
	blocks messageBlocks         // the messages, written after the other changes
	yield  bool                  // let other goroutines run now and then
	since  int                   // changes written since the last yield
}

// exec runs write statement stmt with vals, which must be driver values
// (int64, string, []byte or nil).
func (b *sqliteBatch) exec(stmt int, vals ...any) (driver.Result, error) {
	return b.st.stmts[stmt].(driver.StmtExecContext).ExecContext(b.ctx, b.bind(vals))
}

// query runs statement stmt, a SELECT, with vals.
func (b *sqliteBatch) query(stmt int, vals ...any) (driver.Rows, error) {
	return b.st.stmts[stmt].(driver.StmtQueryContext).QueryContext(b.ctx, b.bind(vals))
}

// int runs stmt, a SELECT of one integer, with vals.
func (b *sqliteBatch) int(stmt int, vals ...any) (int64, error) {
	rows, err := b.query(stmt, vals...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	dest := b.row[:1]
	if err := rows.Next(dest); err != nil {
		return 0, err
	}
	n, ok := dest[0].(int64)
	if !ok {
		return 0, fmt.Errorf("want an integer, got %T", dest[0])
	}
	return n, nil
}

func (b *sqliteBatch) bind(vals []any) []driver.NamedValue {
	args := b.args[:len(vals)]
	for i, v := range vals {
		args[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return args
}

// wrote counts n changes written, and every applyYield of them lets other
// goroutines run.
func (b *sqliteBatch) wrote(n int) {
	if b.since += n; b.yield && b.since >= applyYield {
		b.since = 0
		runtime.Gosched()
	}
}

// apply writes one change, or gathers it when it is a message.
func (b *sqliteBatch) apply(c *Change) error {
	if c.Message != nil {
		b.blocks.add(c.Message)
		return nil
	}
	return b.applyRecord(c)
}

// applyRecord writes a change that is not a message.
func (b *sqliteBatch) applyRecord(c *Change) error {
	var err error
	switch {
	case c.Visitor != nil:
		v := c.Visitor
		_, err = b.exec(stUpsertVisitor, v.ID, v.PageID, v.AuthToken, v.DeviceID, v.Fields,
			millis(v.CreatedAt), millis(v.SeenAt))
	case c.Chat != nil:
		ch := c.Chat
		var rate any
		if ch.Rate != nil {
			rate = int64(*ch.Rate)
		}
		_, err = b.exec(stUpsertChat, ch.ID, ch.VisitorID, ch.ClientSideID, ch.DepartmentKey,
			ch.State, ch.OperatorID, nullMillis(ch.QueuedAt), millis(ch.CreatedAt), millis(ch.ModifiedAt),
			nullMillis(ch.ClosedAt), rate, ch.RatedOperatorID, ch.NextSeq)
	case c.Operator != nil:
		o := c.Operator
		_, err = b.exec(stUpsertOperator, o.OperatorID, o.Status, nullMillis(o.LastAssignedAt),
			millis(o.UpdatedAt))
	case c.Read != nil:
		r := c.Read
		_, err = b.exec(stUpsertRead, r.ChatID, r.Side, r.UpToSeq)
	}
	if err != nil {
		return fmt.Errorf("store: apply: %s: %w", describe([]Change{*c}), err)
	}
	b.wrote(1)
	return nil
}

// PurgeClosed implements Store. It deletes in chunks, each in its own
// transaction, so that writers are not held up by a large purge.
func (s *SQLite) PurgeClosed(ctx context.Context, before time.Time) (int, error) {
	const chunk = `(SELECT id FROM chats WHERE closed_at < ? ORDER BY closed_at LIMIT 500)`
	cut := millis(before)
	total := 0
	for {
		n, err := s.purgeChunk(ctx, chunk, cut)
		total += n
		if err != nil {
			return total, fmt.Errorf("store: purge closed chats: %w", err)
		}
		if n == 0 {
			return total, nil
		}
	}
}

func (s *SQLite) purgeChunk(ctx context.Context, chunk string, cut int64) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	for _, q := range []string{
		`DELETE FROM message_blocks WHERE chat_id IN ` + chunk,
		`DELETE FROM reads WHERE chat_id IN ` + chunk,
	} {
		if _, err := tx.ExecContext(ctx, q, cut); err != nil {
			return 0, err
		}
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM chats WHERE id IN `+chunk, cut)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	return int(n), tx.Commit()
}

// Ping implements Store.
func (s *SQLite) Ping(ctx context.Context) error {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("store: ping %s in data_dir %q: %w", SQLiteFile, s.dataDir, err)
	}
	return nil
}

// Close implements Store.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.r != nil {
			errs = append(errs, s.r.Close())
		}
		// The statements belong to the write connection: finalized on it,
		// so that closing it releases the file.
		errs = append(errs, s.closeStmts())
		errs = append(errs, s.w.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

func (s *SQLite) closeStmts() error {
	return s.rawWriter(context.Background(), func(dc any) error {
		if s.stmts == nil || s.stmts.conn != dc {
			return nil
		}
		err := s.stmts.close()
		s.stmts = nil
		return err
	})
}

// millis is t as Unix milliseconds; the zero Time stays distinguishable.
func millis(t time.Time) int64 { return t.UnixMilli() }

// nullMillis is millis, or NULL for the zero Time.
func nullMillis(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// fromMillis reverses millis and nullMillis.
func fromMillis(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return utc(time.UnixMilli(v.Int64))
}
