package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"time"

	"github.com/chatnode/chatnode"
)

// The values stored for states, kinds, statuses and sides are the domain's
// (package chatnode); these names keep store code and its tests readable.
const (
	ChatQueue            = chatnode.ChatQueue
	ChatChatting         = chatnode.ChatChatting
	ChatClosed           = chatnode.ChatClosed
	ChatClosedByVisitor  = chatnode.ChatClosedByVisitor
	ChatClosedByOperator = chatnode.ChatClosedByOperator

	MessageVisitor  = chatnode.KindVisitor
	MessageOperator = chatnode.KindOperator
	MessageInfo     = chatnode.KindInfo

	OperatorOnline    = chatnode.StatusOnline
	OperatorInvisible = chatnode.StatusInvisible
	OperatorOffline   = chatnode.StatusOffline

	SideVisitor  = chatnode.SideVisitor
	SideOperator = chatnode.SideOperator
)

// Errors returned by stores and the Writer. They are wrapped with context;
// test for them with errors.Is.
var (
	// ErrNotFound means the looked-up record does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrInvalid means a change cannot be written as given (no record set,
	// two records set, an empty key).
	ErrInvalid = errors.New("store: invalid change")
	// ErrConflict means a new message claims a seq that another message of
	// the same chat already holds. Nothing of the batch was written.
	ErrConflict = errors.New("store: seq conflict")
	// ErrClosed means the Store or Writer was closed.
	ErrClosed = errors.New("store: closed")
)

// Visitor is a visit session: a browser or app that opened the widget.
type Visitor struct {
	ID        string // visit session id
	PageID    string
	AuthToken string
	DeviceID  string
	Fields    []byte // visitor JSON as given by the client, may be nil
	CreatedAt time.Time
	SeenAt    time.Time
}

// Chat is one conversation of a visitor, in any state.
type Chat struct {
	ID              string
	VisitorID       string
	ClientSideID    string
	DepartmentKey   string
	State           string // ChatQueue, ChatChatting or one of the closed states
	OperatorID      string
	QueuedAt        time.Time // zero if never queued; the oldest-first key of the queue
	CreatedAt       time.Time
	ModifiedAt      time.Time
	ClosedAt        time.Time // zero while the chat is open
	Rate            *int      // the visitor's rating, -2..2; nil if not rated
	RatedOperatorID string
	NextSeq         int64 // the seq the chat's next message will get
}

// Message is one message of a chat.
type Message struct {
	ID           string // MessageID(ChatID, Seq)
	ChatID       string
	Seq          int64  // order within the chat, from 1
	Kind         string // MessageVisitor, MessageOperator or MessageInfo
	AuthorID     string
	AuthorName   string
	Text         string
	ClientSideID string // the client's id for retries; "" for server-made messages
	CreatedAt    time.Time
}

// OperatorState is the persisted part of an operator's state.
type OperatorState struct {
	OperatorID     string
	Status         string    // OperatorOnline, OperatorInvisible or OperatorOffline
	LastAssignedAt time.Time // zero if never assigned
	UpdatedAt      time.Time
}

// Read is a read marker: one side of a chat has read up to a seq.
type Read struct {
	ChatID  string
	Side    string // SideVisitor or SideOperator
	UpToSeq int64
}

// Change is one unit of a write batch; exactly one field is set.
type Change struct {
	Visitor  *Visitor
	Chat     *Chat
	Message  *Message
	Operator *OperatorState
	Read     *Read
}

// Snapshot is what a starting node loads from the store.
type Snapshot struct {
	Chats     []Chat               // open chats, oldest first by CreatedAt
	Messages  map[string][]Message // messages of open chats by chat id, in seq order; no entry for a chat without messages
	Visitors  []Visitor            // visitors of open chats and recently seen ones
	Operators []OperatorState      // all operator states
	Reads     []Read               // read markers of open chats
}

// Store is the durable store. All times it returns are UTC with millisecond
// precision; times given to it are truncated to milliseconds.
//
// Page methods take a limit; a limit of zero or less means no limit.
type Store interface {
	// Apply writes the changes in one transaction and returns once they are
	// durable. Visitors, chats, operator states and read markers are upserted
	// by key (a later write replaces the whole record). A message is
	// inserted once, at its place (ChatID, Seq): the same message written
	// again there is silently skipped, a stored message is never changed,
	// and another message whose seq is taken fails the batch with
	// ErrConflict. ClientSideID is not a key: the chat actor, the one
	// writer of a chat's messages, holds them all and answers a client's
	// resend itself, so a resend never reaches the store as a new message.
	Apply(ctx context.Context, changes []Change) error
	// Recover returns what a starting node needs: every open chat with all
	// its messages, the visitors of those chats plus the visitors seen at or
	// after visitorsSince (all visitors if it is zero), all operator states,
	// and the read markers of open chats. It reads one consistent snapshot.
	Recover(ctx context.Context, visitorsSince time.Time) (*Snapshot, error)
	// Visitor returns a visitor by ID, or ErrNotFound.
	Visitor(ctx context.Context, id string) (*Visitor, error)
	// Chat returns a chat in any state by ID, or ErrNotFound.
	Chat(ctx context.Context, id string) (*Chat, error)
	// Messages pages a chat's messages: seq > afterSeq, ascending, at most
	// limit.
	Messages(ctx context.Context, chatID string, afterSeq int64, limit int) ([]Message, error)
	// VisitorHistory pages a visitor's messages across all its chats, newest
	// first by (CreatedAt, ID), strictly before the cursor (before,
	// beforeID); a zero before starts from the newest, an empty beforeID
	// means strictly before the time. The next page's cursor is the last
	// message's (CreatedAt, ID).
	VisitorHistory(ctx context.Context, visitorID string, before time.Time, beforeID string, limit int) ([]Message, error)
	// OperatorChats pages the chats (any state) whose OperatorID is
	// operatorID, newest first by (ModifiedAt, ID), strictly before the
	// cursor (before, beforeID); a zero before starts from the newest.
	OperatorChats(ctx context.Context, operatorID string, before time.Time, beforeID string, limit int) ([]Chat, error)
	// PurgeClosed deletes the chats closed before the given time together
	// with their messages and read markers, and returns how many chats it
	// deleted. Visitors are kept.
	PurgeClosed(ctx context.Context, before time.Time) (int, error)
	// Ping checks that the store is usable.
	Ping(ctx context.Context) error
	// Close releases the store. Calling it again does nothing.
	Close() error
}

// Store kinds accepted by Open.
const (
	KindSQLite   = "sqlite"
	KindPostgres = "postgres"
)

// Open opens the store of the given kind: KindSQLite under dataDir, behind
// its journal (see Journaled), or KindPostgres at dsn. logger (nil:
// discard) hears about the journal's replay and its failures.
func Open(ctx context.Context, kind, dataDir, dsn string, logger *slog.Logger) (Store, error) {
	switch kind {
	// A failed open returns a nil interface, not one holding a nil pointer.
	case KindSQLite:
		s, err := OpenSQLite(ctx, dataDir)
		if err != nil {
			return nil, err
		}
		j, err := OpenJournaled(ctx, s, filepath.Join(dataDir, JournalDir), logger)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("data_dir %q: %w", dataDir, err)
		}
		return j, nil
	case KindPostgres:
		p, err := OpenPostgres(ctx, dsn)
		if err != nil {
			return nil, err
		}
		return p, nil
	default:
		return nil, fmt.Errorf("store: unknown kind %q (want %q or %q)", kind, KindSQLite, KindPostgres)
	}
}

// MessageID is the id of the message of chat chatID at seq: the chat's id,
// a dash and the seq. A message's id names its place in its chat, so the
// stores key messages by (chat, seq) alone.
func MessageID(chatID string, seq int64) string {
	return chatID + "-" + strconv.FormatInt(seq, 10)
}

// messageRun is how many of the first changes of cs, up to limit, are
// messages: the run a store may write with one statement.
func messageRun(cs []Change, limit int) int {
	n := 0
	for n < len(cs) && n < limit && cs[n].Message != nil {
		n++
	}
	return n
}

// errSeqTaken is the conflict of message m whose place another message
// holds.
func errSeqTaken(m *Message) error {
	return fmt.Errorf("%w: message %q: seq %d of chat %q is taken by another message", ErrConflict, m.ID, m.Seq, m.ChatID)
}

// describe names the records of one statement's changes for error
// messages.
func describe(cs []Change) string {
	if len(cs) > 1 {
		return describeMessages(cs[0].Message, cs[len(cs)-1].Message)
	}
	switch c := &cs[0]; {
	case c.Visitor != nil:
		return fmt.Sprintf("visitor %q", c.Visitor.ID)
	case c.Chat != nil:
		return fmt.Sprintf("chat %q", c.Chat.ID)
	case c.Message != nil:
		return describeMessages(c.Message, c.Message)
	case c.Operator != nil:
		return fmt.Sprintf("operator %q", c.Operator.OperatorID)
	case c.Read != nil:
		return fmt.Sprintf("read marker %q/%s", c.Read.ChatID, c.Read.Side)
	}
	return "empty change"
}

// describeMessages names the run of messages from first to last.
func describeMessages(first, last *Message) string {
	if first == last {
		return fmt.Sprintf("message %q", first.ID)
	}
	return fmt.Sprintf("messages %q … %q", first.ID, last.ID)
}

// validate checks the shape of a batch before anything is written.
func validate(changes []Change) error {
	for i := range changes {
		if problem := checkChange(&changes[i]); problem != "" {
			return fmt.Errorf("%w: change %d: %s", ErrInvalid, i, problem)
		}
	}
	return nil
}

// checkChange says what is wrong with a change, or "".
func checkChange(c *Change) string {
	n, problem := 0, ""
	if v := c.Visitor; v != nil {
		n++
		if v.ID == "" {
			problem = "visitor without an ID"
		}
	}
	if ch := c.Chat; ch != nil {
		n++
		if ch.ID == "" {
			problem = "chat without an ID"
		}
	}
	if m := c.Message; m != nil {
		n++
		switch {
		case m.ID == "" || m.ChatID == "":
			problem = "message without an ID or chat ID"
		case m.Seq < 1:
			problem = fmt.Sprintf("message %q has seq %d, want 1 or more", m.ID, m.Seq)
		case m.ID != MessageID(m.ChatID, m.Seq):
			problem = fmt.Sprintf("message %q of chat %q at seq %d: want the id %q", m.ID, m.ChatID, m.Seq, MessageID(m.ChatID, m.Seq))
		}
	}
	if o := c.Operator; o != nil {
		n++
		if o.OperatorID == "" {
			problem = "operator state without an operator ID"
		}
	}
	if r := c.Read; r != nil {
		n++
		if r.ChatID == "" || r.Side == "" {
			problem = "read marker without a chat ID or side"
		}
	}
	if n != 1 {
		return fmt.Sprintf("%d records set, want exactly 1", n)
	}
	return problem
}

// utc normalises a time read from or written to a store: UTC, millisecond
// precision, and the zero instant as the zero Time.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Millisecond)
}
