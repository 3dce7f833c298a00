package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// sqlQuerier is what *sql.DB and *sql.Tx have in common.
type sqlQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// Recover implements Store. It reads in one transaction, so it sees one
// committed state.
func (s *SQLite) Recover(ctx context.Context, visitorsSince time.Time) (*Snapshot, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: recover: %w", err)
	}
	defer tx.Rollback()
	snap := &Snapshot{Messages: map[string][]Message{}}
	snap.Chats, err = sqliteChats(ctx, tx, `SELECT `+chatCols+` FROM chats c
		WHERE c.closed_at IS NULL ORDER BY c.created_at, c.id`)
	if err != nil {
		return nil, fmt.Errorf("store: recover chats: %w", err)
	}
	msgs, err := sqliteMessages(ctx, tx, `SELECT `+messageCols+` FROM chats c JOIN messages m ON m.chat_id = c.id
		WHERE c.closed_at IS NULL ORDER BY m.chat_id, m.seq`)
	if err != nil {
		return nil, fmt.Errorf("store: recover messages: %w", err)
	}
	for _, m := range msgs {
		snap.Messages[m.ChatID] = append(snap.Messages[m.ChatID], m)
	}
	snap.Visitors, err = sqliteVisitors(ctx, tx, `SELECT `+visitorCols+` FROM visitors v
		WHERE v.seen_at >= ? OR v.id IN (SELECT visitor_id FROM chats WHERE closed_at IS NULL)
		ORDER BY v.id`, millis(visitorsSince))
	if err != nil {
		return nil, fmt.Errorf("store: recover visitors: %w", err)
	}
	snap.Operators, err = scanAll(ctx, tx, `SELECT operator_id, status, last_assigned_at, updated_at
		FROM operator_states ORDER BY operator_id`, nil, func(r *sql.Rows) (OperatorState, error) {
		var o OperatorState
		var last sql.NullInt64
		var upd int64
		err := r.Scan(&o.OperatorID, &o.Status, &last, &upd)
		o.LastAssignedAt, o.UpdatedAt = fromMillis(last), fromMillis(sql.NullInt64{Int64: upd, Valid: true})
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: recover operator states: %w", err)
	}
	snap.Reads, err = scanAll(ctx, tx, `SELECT r.chat_id, r.side, r.up_to_seq FROM reads r JOIN chats c ON c.id = r.chat_id
		WHERE c.closed_at IS NULL ORDER BY r.chat_id, r.side`, nil, func(r *sql.Rows) (Read, error) {
		var rd Read
		err := r.Scan(&rd.ChatID, &rd.Side, &rd.UpToSeq)
		return rd, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: recover read markers: %w", err)
	}
	return snap, nil
}

// Visitor implements Store.
func (s *SQLite) Visitor(ctx context.Context, id string) (*Visitor, error) {
	vs, err := sqliteVisitors(ctx, s.r, `SELECT `+visitorCols+` FROM visitors v WHERE v.id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("store: visitor %q: %w", id, err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("visitor %q: %w", id, ErrNotFound)
	}
	return &vs[0], nil
}

// Chat implements Store.
func (s *SQLite) Chat(ctx context.Context, id string) (*Chat, error) {
	cs, err := sqliteChats(ctx, s.r, `SELECT `+chatCols+` FROM chats c WHERE c.id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("store: chat %q: %w", id, err)
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("chat %q: %w", id, ErrNotFound)
	}
	return &cs[0], nil
}

// Messages implements Store.
func (s *SQLite) Messages(ctx context.Context, chatID string, afterSeq int64, limit int) ([]Message, error) {
	// The messages view would read all of the chat's blocks. A chat's
	// blocks do not overlap (sqlite_blocks.go), so the first limit blocks
	// that end past afterSeq hold the next limit messages.
	ms, err := sqliteMessages(ctx, s.r, `SELECT `+sqliteBlockMessageCols+`
		FROM (SELECT chat_id, messages FROM message_blocks WHERE chat_id = ?1 AND last_seq > ?2 ORDER BY last_seq LIMIT ?3) b,
			jsonb_each(b.messages) e
		WHERE e.value ->> 0 > ?2 ORDER BY e.value ->> 0 LIMIT ?3`,
		chatID, afterSeq, sqliteLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: messages of chat %q: %w", chatID, err)
	}
	return ms, nil
}

// VisitorHistory implements Store.
func (s *SQLite) VisitorHistory(ctx context.Context, visitorID string, before time.Time, beforeID string, limit int) ([]Message, error) {
	q := `SELECT ` + messageCols + ` FROM chats c JOIN messages m ON m.chat_id = c.id WHERE c.visitor_id = ?`
	args := []any{visitorID}
	if !before.IsZero() {
		q += ` AND (m.created_at, m.id) < (?, ?)`
		args = append(args, millis(utc(before)), beforeID)
	}
	q += ` ORDER BY m.created_at DESC, m.id DESC LIMIT ?`
	ms, err := sqliteMessages(ctx, s.r, q, append(args, sqliteLimit(limit))...)
	if err != nil {
		return nil, fmt.Errorf("store: history of visitor %q: %w", visitorID, err)
	}
	return ms, nil
}

// OperatorChats implements Store.
func (s *SQLite) OperatorChats(ctx context.Context, operatorID string, before time.Time, beforeID string, limit int) ([]Chat, error) {
	q := `SELECT ` + chatCols + ` FROM chats c WHERE c.operator_id = ?`
	args := []any{operatorID}
	if !before.IsZero() {
		q += ` AND (c.modified_at, c.id) < (?, ?)`
		args = append(args, millis(utc(before)), beforeID)
	}
	q += ` ORDER BY c.modified_at DESC, c.id DESC LIMIT ?`
	cs, err := sqliteChats(ctx, s.r, q, append(args, sqliteLimit(limit))...)
	if err != nil {
		return nil, fmt.Errorf("store: chats of operator %q: %w", operatorID, err)
	}
	return cs, nil
}

// sqliteBlockMessageCols are messageCols read from the elements e of
// message blocks b, as the messages view (migration 0006) reads them.
const sqliteBlockMessageCols = `b.chat_id || '-' || (e.value ->> 0), b.chat_id, e.value ->> 0, e.value ->> 1,
	e.value ->> 2, e.value ->> 3, e.value ->> 4, e.value ->> 5, e.value ->> 6`

// sqliteLimit maps "no limit" (zero or less) to SQLite's -1.
func sqliteLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}

func sqliteVisitors(ctx context.Context, q sqlQuerier, query string, args ...any) ([]Visitor, error) {
	return scanAll(ctx, q, query, args, func(r *sql.Rows) (Visitor, error) {
		var v Visitor
		var created, seen int64
		err := r.Scan(&v.ID, &v.PageID, &v.AuthToken, &v.DeviceID, &v.Fields, &created, &seen)
		v.CreatedAt, v.SeenAt = fromMillis(sql.NullInt64{Int64: created, Valid: true}), fromMillis(sql.NullInt64{Int64: seen, Valid: true})
		return v, err
	})
}

func sqliteChats(ctx context.Context, q sqlQuerier, query string, args ...any) ([]Chat, error) {
	return scanAll(ctx, q, query, args, func(r *sql.Rows) (Chat, error) {
		var c Chat
		var queued, closed, rate sql.NullInt64
		var created, modified int64
		err := r.Scan(&c.ID, &c.VisitorID, &c.ClientSideID, &c.DepartmentKey, &c.State, &c.OperatorID, &queued,
			&created, &modified, &closed, &rate, &c.RatedOperatorID, &c.NextSeq)
		c.QueuedAt, c.ClosedAt = fromMillis(queued), fromMillis(closed)
		c.CreatedAt = fromMillis(sql.NullInt64{Int64: created, Valid: true})
		c.ModifiedAt = fromMillis(sql.NullInt64{Int64: modified, Valid: true})
		if rate.Valid {
			v := int(rate.Int64)
			c.Rate = &v
		}
		return c, err
	})
}

func sqliteMessages(ctx context.Context, q sqlQuerier, query string, args ...any) ([]Message, error) {
	return scanAll(ctx, q, query, args, func(r *sql.Rows) (Message, error) {
		var m Message
		var created int64
		err := r.Scan(&m.ID, &m.ChatID, &m.Seq, &m.Kind, &m.AuthorID, &m.AuthorName, &m.Text, &m.ClientSideID, &created)
		m.CreatedAt = fromMillis(sql.NullInt64{Int64: created, Valid: true})
		return m, err
	})
}

// scanAll runs a query and scans every row with scan.
func scanAll[T any](ctx context.Context, q sqlQuerier, query string, args []any, scan func(*sql.Rows) (T, error)) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// lastSeq returns the highest committed seq among a chat's messages, 0 if
// it has none. It reads beside the writer, never waiting for its
// transaction.
func (s *SQLite) lastSeq(ctx context.Context, chatID string) (int64, error) {
	var last int64
	err := s.r.QueryRowContext(ctx, sqliteLastSeq, chatID).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("store: last seq of chat %q: %w", chatID, err)
	}
	return last, nil
}
