package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PostgresConnectTimeout bounds connecting to PostgreSQL when db_dsn sets
// no connect_timeout.
const PostgresConnectTimeout = 5 * time.Second

// migrationLockID is the advisory lock that keeps two nodes from migrating
// the schema at the same time.
const migrationLockID = 0x636861746e6f6465 // "chatnode"

// Postgres is the Store kept in a PostgreSQL database, shared by the nodes
// of a cluster.
type Postgres struct {
	pool      *pgxpool.Pool
	closeOnce sync.Once
}

var _ Store = (*Postgres)(nil)

// OpenPostgres connects to the database at dsn (a postgres:// URL or
// key=value string) and brings its schema up to date. Errors name the
// db_dsn setting with the password redacted and tell an unreachable server
// from refused credentials and a missing database.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, errors.New("db_dsn is empty")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		reason := err.Error()
		var pe *pgconn.ParseConfigError
		if errors.As(err, &pe) {
			// The message repeats the connection string; keep only the reason.
			if _, r, ok := strings.Cut(reason, "`: "); ok {
				reason = r
			}
		}
		return nil, newDSNError(dsn, "", "invalid: "+reason, err)
	}
	password := cfg.ConnConfig.Password
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = PostgresConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, newDSNError(dsn, password, "create pool: "+err.Error(), err)
	}
	pctx, cancel := context.WithTimeout(ctx, cfg.ConnConfig.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, newDSNError(dsn, password, connectProblem(cfg, err), err)
	}
	p := &Postgres{pool: pool}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, newDSNError(dsn, password, "migrate schema: "+err.Error(), err)
	}
	return p, nil
}

// connectProblem says in words why connecting failed.
func connectProblem(cfg *pgxpool.Config, err error) string {
	cc := cfg.ConnConfig
	addr := net.JoinHostPort(cc.Host, fmt.Sprint(cc.Port))
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "28P01", "28000":
			return fmt.Sprintf("authentication failed for user %q at %s: %s", cc.User, addr, pgErr.Message)
		case "3D000":
			return fmt.Sprintf("database %q does not exist at %s", cc.Database, addr)
		}
		return fmt.Sprintf("server at %s refused the connection: %s", addr, pgErr.Error())
	}
	var netErr net.Error
	if pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()) {
		return fmt.Sprintf("PostgreSQL unreachable at %s: no answer within %s", addr, cc.ConnectTimeout)
	}
	// No answer from PostgreSQL itself: name the lowest cause, on one line.
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		err = opErr
	} else if ce := (*pgconn.ConnectError)(nil); errors.As(err, &ce) && ce.Unwrap() != nil {
		err = ce.Unwrap()
	}
	reason := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	return fmt.Sprintf("PostgreSQL unreachable at %s: %s", addr, reason)
}

// dsnError is an error about the db_dsn setting whose text never holds the
// password.
type dsnError struct {
	msg string
	err error
}

func (e *dsnError) Error() string { return e.msg }
func (e *dsnError) Unwrap() error { return e.err }

func newDSNError(dsn, password, reason string, err error) error {
	msg := fmt.Sprintf("db_dsn %q: %s", RedactDSN(dsn), reason)
	if password != "" {
		msg = strings.ReplaceAll(msg, password, "xxxxx")
	}
	return &dsnError{msg: msg, err: err}
}

var (
	kvPasswordQuoted = regexp.MustCompile(`(?i)(password\s*=\s*)'(?:[^'\\]|\\.)*'`)
	kvPassword       = regexp.MustCompile(`(?i)(password\s*=\s*)[^\s']\S*`)
	urlPassword      = regexp.MustCompile(`^([a-z]+://[^:/@]*:)[^@]*@`)
)

// RedactDSN returns dsn with its password, if any, replaced by xxxxx.
func RedactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return urlPassword.ReplaceAllString(dsn, "${1}xxxxx@")
		}
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	dsn = kvPasswordQuoted.ReplaceAllString(dsn, "${1}xxxxx")
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// migrate applies the embedded PostgreSQL migrations in one transaction,
// under an advisory lock so that nodes starting together take turns.
func (p *Postgres) migrate(ctx context.Context) error {
	return pgx.BeginFunc(ctx, p.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLockID)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version integer PRIMARY KEY,
			name text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		return migrate(ctx, "postgres", migrator{
			exec: func(ctx context.Context, script string) error {
				_, err := tx.Exec(ctx, script)
				return err
			},
			applied: func(ctx context.Context) ([]int, error) {
				rows, _ := tx.Query(ctx, `SELECT version FROM schema_migrations`)
				return pgx.CollectRows(rows, pgx.RowTo[int])
			},
			record: func(ctx context.Context, m migration) error {
				_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
				return err
			},
		})
	})
}

const (
	pgUpsertVisitor = `INSERT INTO visitors (id, page_id, auth_token, device_id, fields, created_at, seen_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET page_id = excluded.page_id, auth_token = excluded.auth_token,
			device_id = excluded.device_id, fields = excluded.fields, created_at = excluded.created_at,
			seen_at = excluded.seen_at`
	pgUpsertChat = `INSERT INTO chats (id, visitor_id, client_side_id, department_key, state, operator_id,
			queued_at, created_at, modified_at, closed_at, rate, rated_operator_id, next_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
		ON CONFLICT (id) DO UPDATE SET visitor_id = excluded.visitor_id, client_side_id = excluded.client_side_id,
			department_key = excluded.department_key, state = excluded.state, operator_id = excluded.operator_id,
			queued_at = excluded.queued_at, created_at = excluded.created_at, modified_at = excluded.modified_at,
			closed_at = excluded.closed_at, rate = excluded.rate, rated_operator_id = excluded.rated_operator_id,
			next_seq = excluded.next_seq`
	pgInsertMessages = `INSERT INTO messages (id, chat_id, seq, kind, author_id, author_name, text, client_side_id, created_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[],
			$8::text[], $9::timestamptz[])
		ON CONFLICT DO NOTHING`
	pgMessageTaken = `SELECT EXISTS (SELECT 1 FROM messages WHERE chat_id = $1 AND seq = $2 AND kind = $3 AND author_id = $4 AND text = $5
			AND client_side_id = $6)`
	pgUpsertOperator = `INSERT INTO operator_states (operator_id, status, last_assigned_at, updated_at)
		VALUES ($1, $2, $3, $4)
		ON CONFLICT (operator_id) DO UPDATE SET status = excluded.status,
			last_assigned_at = excluded.last_assigned_at, updated_at = excluded.updated_at`
	pgUpsertRead = `INSERT INTO reads (chat_id, side, up_to_seq) VALUES ($1, $2, $3)
		ON CONFLICT (chat_id, side) DO UPDATE SET up_to_seq = excluded.up_to_seq`
)

// Apply implements Store. The whole batch goes to the server in one round
// trip inside a transaction; each run of messages is one statement.
func (p *Postgres) Apply(ctx context.Context, changes []Change) error {
	if err := validate(changes); err != nil {
		return err
	}
	if len(changes) == 0 {
		return nil
	}
	// The transaction opens inside the batch that carries the changes, so
	// a commit costs two round trips (the batch, then COMMIT) instead of
	// three. A connection released inside a transaction, after a failure,
	// is closed by the pool rather than reused.
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("store: apply: %w", err)
	}
	defer conn.Release()
	batch := &pgx.Batch{}
	batch.Queue("BEGIN")
	steps := []pgStep{{}}
	for i := 0; i < len(changes); {
		j := i + max(1, messageRun(changes[i:], len(changes)))
		queueChanges(batch, changes[i:j])
		steps = append(steps, pgStep{i, j})
		i = j
	}
	br := conn.SendBatch(ctx, batch)
	var short []pgStep
	for k, st := range steps {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			if k == 0 {
				return fmt.Errorf("store: apply: begin: %w", err)
			}
			return fmt.Errorf("store: apply: %s: %w", describe(changes[st.from:st.to]), err)
		}
		if k > 0 && changes[st.from].Message != nil && tag.RowsAffected() < int64(st.to-st.from) {
			short = append(short, st)
		}
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("store: apply: %w", err)
	}
	// Some message of a short run was skipped: fine if it is a retry of a
	// stored one, a lost message if another message holds its seq. The
	// messages the run did insert pass this check as themselves.
	for _, st := range short {
		for i := st.from; i < st.to; i++ {
			m := changes[i].Message
			var dup bool
			if err := conn.QueryRow(ctx, pgMessageTaken, m.ChatID, m.Seq, m.Kind, m.AuthorID, m.Text, m.ClientSideID).Scan(&dup); err != nil {
				return fmt.Errorf("store: apply: message %q: %w", m.ID, err)
			}
			if !dup {
				return errSeqTaken(m)
			}
		}
	}
	if _, err := conn.Exec(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("store: apply: commit: %w", err)
	}
	return nil
}

// pgStep is the changes [from, to) that one statement of a batch writes.
type pgStep struct{ from, to int }

// queueChanges queues one statement for cs: a run of messages goes in one
// INSERT of arrays (one execution on the server instead of one a row),
// any other change alone.
func queueChanges(b *pgx.Batch, cs []Change) {
	if cs[0].Message != nil {
		queueMessages(b, cs)
		return
	}
	switch c := &cs[0]; {
	case c.Visitor != nil:
		v := c.Visitor
		b.Queue(pgUpsertVisitor, v.ID, v.PageID, v.AuthToken, v.DeviceID, v.Fields, utc(v.CreatedAt), utc(v.SeenAt))
	case c.Chat != nil:
		ch := c.Chat
		b.Queue(pgUpsertChat, ch.ID, ch.VisitorID, ch.ClientSideID, ch.DepartmentKey, ch.State, ch.OperatorID,
			pgNullTime(ch.QueuedAt), utc(ch.CreatedAt), utc(ch.ModifiedAt), pgNullTime(ch.ClosedAt), ch.Rate,
			ch.RatedOperatorID, ch.NextSeq)
	case c.Operator != nil:
		o := c.Operator
		b.Queue(pgUpsertOperator, o.OperatorID, o.Status, pgNullTime(o.LastAssignedAt), utc(o.UpdatedAt))
	case c.Read != nil:
		r := c.Read
		b.Queue(pgUpsertRead, r.ChatID, r.Side, r.UpToSeq)
	}
}

// queueMessages queues one pgInsertMessages for a run of message changes.
func queueMessages(b *pgx.Batch, cs []Change) {
	n := len(cs)
	var (
		ids, chats, kinds, authors, names, texts, clientIDs = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		seqs  = make([]int64, n)
		times = make([]time.Time, n)
	)
	for i := range cs {
		m := cs[i].Message
		ids[i], chats[i], seqs[i], kinds[i], authors[i], names[i], texts[i], clientIDs[i], times[i] =
			m.ID, m.ChatID, m.Seq, m.Kind, m.AuthorID, m.AuthorName, m.Text, m.ClientSideID, utc(m.CreatedAt)
	}
	b.Queue(pgInsertMessages, ids, chats, seqs, kinds, authors, names, texts, clientIDs, times)
}

// PurgeClosed implements Store. It deletes in chunks, one statement each,
// so that no transaction grows large; nodes purging at the same time skip
// each other's rows.
func (p *Postgres) PurgeClosed(ctx context.Context, before time.Time) (int, error) {
	const q = `WITH doomed AS (
			SELECT id FROM chats WHERE closed_at < $1 ORDER BY closed_at LIMIT 500 FOR UPDATE SKIP LOCKED
		), dm AS (
			DELETE FROM messages WHERE chat_id IN (SELECT id FROM doomed)
		), dr AS (
			DELETE FROM reads WHERE chat_id IN (SELECT id FROM doomed)
		)
		DELETE FROM chats WHERE id IN (SELECT id FROM doomed)`
	total := 0
	for {
		tag, err := p.pool.Exec(ctx, q, utc(before))
		if err != nil {
			return total, fmt.Errorf("store: purge closed chats: %w", err)
		}
		n := int(tag.RowsAffected())
		total += n
		if n == 0 {
			return total, nil
		}
	}
}

// Ping implements Store.
func (p *Postgres) Ping(ctx context.Context) error {
	var n int
	if err := p.pool.QueryRow(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		return fmt.Errorf("store: ping PostgreSQL: %w", err)
	}
	return nil
}

// Close implements Store.
func (p *Postgres) Close() error {
	p.closeOnce.Do(p.pool.Close)
	return nil
}

// pgNullTime is the time for a nullable column: NULL for the zero Time.
func pgNullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return utc(t)
}
