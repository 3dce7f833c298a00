package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgQuerier is what *pgxpool.Pool and pgx.Tx have in common.
type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Recover implements Store. It reads in one repeatable-read transaction, so
// it sees one committed state.
func (p *Postgres) Recover(ctx context.Context, visitorsSince time.Time) (*Snapshot, error) {
	tx, err := p.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("store: recover: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	snap := &Snapshot{Messages: map[string][]Message{}}
	snap.Chats, err = pgChats(ctx, tx, `SELECT `+chatCols+` FROM chats c
		WHERE c.closed_at IS NULL ORDER BY c.created_at, c.id`)
	if err != nil {
		return nil, fmt.Errorf("store: recover chats: %w", err)
	}
	msgs, err := pgMessages(ctx, tx, `SELECT `+messageCols+` FROM chats c JOIN messages m ON m.chat_id = c.id
		WHERE c.closed_at IS NULL ORDER BY m.chat_id, m.seq`)
	if err != nil {
		return nil, fmt.Errorf("store: recover messages: %w", err)
	}
	for _, m := range msgs {
		snap.Messages[m.ChatID] = append(snap.Messages[m.ChatID], m)
	}
	snap.Visitors, err = pgVisitors(ctx, tx, `SELECT `+visitorCols+` FROM visitors v
		WHERE v.seen_at >= $1 OR v.id IN (SELECT visitor_id FROM chats WHERE closed_at IS NULL)
		ORDER BY v.id`, utc(visitorsSince))
	if err != nil {
		return nil, fmt.Errorf("store: recover visitors: %w", err)
	}
	rows, _ := tx.Query(ctx, `SELECT operator_id, status, last_assigned_at, updated_at
		FROM operator_states ORDER BY operator_id`)
	snap.Operators, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (OperatorState, error) {
		var o OperatorState
		var last *time.Time
		err := r.Scan(&o.OperatorID, &o.Status, &last, &o.UpdatedAt)
		o.LastAssignedAt, o.UpdatedAt = pgTime(last), utc(o.UpdatedAt)
		return o, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: recover operator states: %w", err)
	}
	rows, _ = tx.Query(ctx, `SELECT r.chat_id, r.side, r.up_to_seq FROM reads r JOIN chats c ON c.id = r.chat_id
		WHERE c.closed_at IS NULL ORDER BY r.chat_id, r.side`)
	snap.Reads, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Read, error) {
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
func (p *Postgres) Visitor(ctx context.Context, id string) (*Visitor, error) {
	vs, err := pgVisitors(ctx, p.pool, `SELECT `+visitorCols+` FROM visitors v WHERE v.id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("store: visitor %q: %w", id, err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("visitor %q: %w", id, ErrNotFound)
	}
	return &vs[0], nil
}

// Chat implements Store.
func (p *Postgres) Chat(ctx context.Context, id string) (*Chat, error) {
	cs, err := pgChats(ctx, p.pool, `SELECT `+chatCols+` FROM chats c WHERE c.id = $1`, id)
	if err != nil {
		return nil, fmt.Errorf("store: chat %q: %w", id, err)
	}
	if len(cs) == 0 {
		return nil, fmt.Errorf("chat %q: %w", id, ErrNotFound)
	}
	return &cs[0], nil
}

// Messages implements Store.
func (p *Postgres) Messages(ctx context.Context, chatID string, afterSeq int64, limit int) ([]Message, error) {
	ms, err := pgMessages(ctx, p.pool, `SELECT `+messageCols+` FROM messages m
		WHERE m.chat_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3`, chatID, afterSeq, pgLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("store: messages of chat %q: %w", chatID, err)
	}
	return ms, nil
}

// VisitorHistory implements Store.
func (p *Postgres) VisitorHistory(ctx context.Context, visitorID string, before time.Time, beforeID string, limit int) ([]Message, error) {
	q := `SELECT ` + messageCols + ` FROM chats c JOIN messages m ON m.chat_id = c.id WHERE c.visitor_id = $1`
	args := []any{visitorID, pgLimit(limit)}
	if !before.IsZero() {
		q += ` AND (m.created_at, m.id) < ($3, $4)`
		args = append(args, utc(before), beforeID)
	}
	q += ` ORDER BY m.created_at DESC, m.id DESC LIMIT $2`
	ms, err := pgMessages(ctx, p.pool, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: history of visitor %q: %w", visitorID, err)
	}
	return ms, nil
}

// OperatorChats implements Store.
func (p *Postgres) OperatorChats(ctx context.Context, operatorID string, before time.Time, beforeID string, limit int) ([]Chat, error) {
	q := `SELECT ` + chatCols + ` FROM chats c WHERE c.operator_id = $1`
	args := []any{operatorID, pgLimit(limit)}
	if !before.IsZero() {
		q += ` AND (c.modified_at, c.id) < ($3, $4)`
		args = append(args, utc(before), beforeID)
	}
	q += ` ORDER BY c.modified_at DESC, c.id DESC LIMIT $2`
	cs, err := pgChats(ctx, p.pool, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: chats of operator %q: %w", operatorID, err)
	}
	return cs, nil
}

// pgLimit maps "no limit" (zero or less) to NULL, which LIMIT reads as none.
func pgLimit(limit int) any {
	if limit <= 0 {
		return nil
	}
	return int64(limit)
}

func pgVisitors(ctx context.Context, q pgQuerier, sql string, args ...any) ([]Visitor, error) {
	rows, _ := q.Query(ctx, sql, args...)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Visitor, error) {
		var v Visitor
		err := r.Scan(&v.ID, &v.PageID, &v.AuthToken, &v.DeviceID, &v.Fields, &v.CreatedAt, &v.SeenAt)
		v.CreatedAt, v.SeenAt = utc(v.CreatedAt), utc(v.SeenAt)
		return v, err
	})
}

func pgChats(ctx context.Context, q pgQuerier, sql string, args ...any) ([]Chat, error) {
	rows, _ := q.Query(ctx, sql, args...)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Chat, error) {
		var c Chat
		var queued, closed *time.Time
		var rate *int16
		err := r.Scan(&c.ID, &c.VisitorID, &c.ClientSideID, &c.DepartmentKey, &c.State, &c.OperatorID, &queued,
			&c.CreatedAt, &c.ModifiedAt, &closed, &rate, &c.RatedOperatorID, &c.NextSeq)
		c.QueuedAt, c.ClosedAt = pgTime(queued), pgTime(closed)
		c.CreatedAt, c.ModifiedAt = utc(c.CreatedAt), utc(c.ModifiedAt)
		if rate != nil {
			v := int(*rate)
			c.Rate = &v
		}
		return c, err
	})
}

func pgMessages(ctx context.Context, q pgQuerier, sql string, args ...any) ([]Message, error) {
	rows, _ := q.Query(ctx, sql, args...)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) {
		var m Message
		err := r.Scan(&m.ID, &m.ChatID, &m.Seq, &m.Kind, &m.AuthorID, &m.AuthorName, &m.Text, &m.ClientSideID, &m.CreatedAt)
		m.CreatedAt = utc(m.CreatedAt)
		return m, err
	})
}

// pgTime reads a nullable time column.
func pgTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return utc(*t)
}
