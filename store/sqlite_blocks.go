package store

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// A transaction's messages reach SQLite as message blocks (migration
// 0006): Apply gathers the messages of each chat and writes them, after
// the other changes, as few rows as the chat needs. Before that it checks
// them against the ones already stored, as the one-row-a-message table did
// with its key: a message at a seq the chat already holds is a retry when
// it is the same message and a conflict when it is another one.
//
// The seq ranges of a chat's blocks never overlap: messages past the
// chat's highest stored seq start new blocks, and a message below it goes
// into the block whose range holds it, or alone into the gap between two
// blocks. Messages pages through the blocks in last_seq order on that
// account, reading no more blocks than the messages it returns.

// A block holds at most blockMessages messages, and a new block ends
// before it would pass blockBytes unless it holds a single message: a
// row stays far below SQLite's limit on a value (a billion bytes) and a
// page of history reads a bounded amount.
const (
	blockMessages = 256
	blockBytes    = 1 << 20
)

// JSONB element types, from the format SQLite documents at
// https://sqlite.org/jsonb.html: an element is a header (its type in the
// low four bits, its payload size in the high four or in the 1, 2 or 4
// big-endian bytes that follow) and its payload. SQLite keeps the format
// stable across versions; the store's tests check the blocks it writes
// with json_valid(blob, 8) and read them back through SQLite's functions.
const (
	jsonbInt     = 0x3 // payload: the integer in ASCII decimal
	jsonbTextRaw = 0xa // payload: the string's bytes, unescaped
	jsonbArray   = 0xb // payload: the elements
)

// chatMessages are the messages of one chat in a transaction.
type chatMessages struct {
	chatID string
	ms     []*Message
}

// messageBlocks gathers a transaction's messages by chat.
type messageBlocks struct {
	index map[string]int // chat id → position in chats
	chats []chatMessages
	buf   []byte // the block being encoded
}

func (mb *messageBlocks) add(m *Message) {
	if mb.index == nil {
		mb.index = map[string]int{}
	}
	i, ok := mb.index[m.ChatID]
	if !ok {
		i = len(mb.chats)
		mb.index[m.ChatID] = i
		mb.chats = append(mb.chats, chatMessages{chatID: m.ChatID})
	}
	mb.chats[i].ms = append(mb.chats[i].ms, m)
}

// writeMessages writes the messages gathered in the batch, chat by chat.
func (b *sqliteBatch) writeMessages() error {
	for i := range b.blocks.chats {
		if err := b.writeChat(b.blocks.chats[i].chatID, b.blocks.chats[i].ms); err != nil {
			return err
		}
	}
	return nil
}

// writeChat writes the messages ms of chat chatID. Those past the chat's
// highest stored seq, the usual case, become new blocks; any others are
// checked against what is stored, and those not stored are put in place.
func (b *sqliteBatch) writeChat(chatID string, ms []*Message) error {
	slices.SortStableFunc(ms, func(x, y *Message) int { return cmp.Compare(x.Seq, y.Seq) })
	ms, err := dropRepeats(ms)
	if err != nil {
		return err
	}
	last, err := b.int(stLastSeq, chatID)
	if err != nil {
		return fmt.Errorf("store: apply: last seq of chat %q: %w", chatID, err)
	}
	n, _ := slices.BinarySearchFunc(ms, last+1, func(m *Message, seq int64) int { return cmp.Compare(m.Seq, seq) })
	if n > 0 {
		late, err := b.unstored(chatID, ms[:n])
		if err != nil {
			return err
		}
		for _, m := range late {
			if err := b.insertLate(chatID, m); err != nil {
				return err
			}
		}
	}
	return b.insertBlocks(chatID, ms[n:])
}

// dropRepeats removes from ms, sorted by seq, the repeats of a message
// (the same message again at its seq). Another message at a seq taken
// earlier in ms is a conflict.
func dropRepeats(ms []*Message) ([]*Message, error) {
	out := ms[:0]
	for _, m := range ms {
		if k := len(out); k > 0 && out[k-1].Seq == m.Seq {
			if !sameMessage(out[k-1], m.Kind, m.AuthorID, m.Text, m.ClientSideID) {
				return nil, errSeqTaken(m)
			}
			continue
		}
		out = append(out, m)
	}
	return out, nil
}

// sameMessage reports whether m is the message stored with these fields:
// a retry of it. The author's name and the time may differ between tries.
func sameMessage(m *Message, kind, authorID, text, clientSideID string) bool {
	return m.Kind == kind && m.AuthorID == authorID && m.Text == text && m.ClientSideID == clientSideID
}

// unstored checks ms, messages of chat chatID at or below its highest
// stored seq, against the stored ones: it returns those whose seq is free,
// skips retries and fails on a message whose seq another one holds.
func (b *sqliteBatch) unstored(chatID string, ms []*Message) ([]*Message, error) {
	rows, err := b.query(stStoredMessages, chatID, ms[0].Seq, ms[len(ms)-1].Seq)
	if err != nil {
		return nil, fmt.Errorf("store: apply: messages of chat %q: %w", chatID, err)
	}
	defer rows.Close()
	stored := map[int64][4]string{}
	row := b.row[:5]
	for {
		if err := rows.Next(row); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("store: apply: messages of chat %q: %w", chatID, err)
		}
		seq, ok := row[0].(int64)
		var f [4]string
		for i := range f {
			if s, isText := row[i+1].(string); isText {
				f[i] = s
			} else {
				ok = false
			}
		}
		if !ok {
			return nil, fmt.Errorf("store: apply: a stored message of chat %q is not [seq, kind, author_id, author_name, text, client_side_id, created_at]: %v", chatID, row)
		}
		stored[seq] = f
	}
	out := ms[:0]
	for _, m := range ms {
		f, ok := stored[m.Seq]
		switch {
		case !ok:
			out = append(out, m)
		case !sameMessage(m, f[0], f[1], f[2], f[3]):
			return nil, errSeqTaken(m)
		}
	}
	return out, nil
}

// insertBlocks writes ms, messages of chat chatID sorted by seq and past
// all of its stored ones, as consecutive blocks.
func (b *sqliteBatch) insertBlocks(chatID string, ms []*Message) error {
	for len(ms) > 0 {
		n, size := 0, 0
		for n < len(ms) && n < blockMessages {
			s := jsonbElementSize(messageSize(ms[n]))
			if n > 0 && size+s > blockBytes {
				break
			}
			size += s
			n++
		}
		if err := b.insertBlock(chatID, ms[:n]); err != nil {
			return err
		}
		ms = ms[n:]
	}
	return nil
}

// insertBlock writes ms, messages of chat chatID sorted by seq, as one
// block.
func (b *sqliteBatch) insertBlock(chatID string, ms []*Message) error {
	b.blocks.buf = appendMessageBlock(b.blocks.buf[:0], ms)
	first, last := ms[0].Seq, ms[len(ms)-1].Seq
	if _, err := b.exec(stInsertBlock, chatID, first, last, b.blocks.buf); err != nil {
		return fmt.Errorf("store: apply: %s: %w", describeMessages(ms[0], ms[len(ms)-1]), err)
	}
	b.wrote(len(ms))
	return nil
}

// insertLate writes m, a message of chat chatID below its highest stored
// seq at a seq no message holds: into the block whose range holds its
// seq, or else as a block of its own in the gap between two blocks.
func (b *sqliteBatch) insertLate(chatID string, m *Message) error {
	b.blocks.buf = appendMessageElement(b.blocks.buf[:0], m)
	res, err := b.exec(stAddToBlock, chatID, m.Seq, b.blocks.buf)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			return b.insertBlock(chatID, []*Message{m})
		}
	}
	if err != nil {
		return fmt.Errorf("store: apply: %s: %w", describeMessages(m, m), err)
	}
	b.wrote(1)
	return nil
}

// appendMessageBlock appends the JSONB array of ms to dst.
func appendMessageBlock(dst []byte, ms []*Message) []byte {
	size := 0
	for _, m := range ms {
		size += jsonbElementSize(messageSize(m))
	}
	dst = appendJSONBHeader(dst, jsonbArray, size)
	for _, m := range ms {
		dst = appendMessageElement(dst, m)
	}
	return dst
}

// appendMessageElement appends m's JSONB array, an element of a block, to
// dst.
func appendMessageElement(dst []byte, m *Message) []byte {
	dst = appendJSONBHeader(dst, jsonbArray, messageSize(m))
	dst = appendJSONBInt(dst, m.Seq)
	for _, s := range [...]string{m.Kind, m.AuthorID, m.AuthorName, m.Text, m.ClientSideID} {
		dst = appendJSONBHeader(dst, jsonbTextRaw, len(s))
		dst = append(dst, s...)
	}
	return appendJSONBInt(dst, millis(m.CreatedAt))
}

// messageSize is the payload size of m's JSONB array.
func messageSize(m *Message) int {
	return jsonbElementSize(decimalLen(m.Seq)) +
		jsonbElementSize(len(m.Kind)) + jsonbElementSize(len(m.AuthorID)) + jsonbElementSize(len(m.AuthorName)) +
		jsonbElementSize(len(m.Text)) + jsonbElementSize(len(m.ClientSideID)) +
		jsonbElementSize(decimalLen(millis(m.CreatedAt)))
}

// jsonbElementSize is the size of an element with n bytes of payload.
func jsonbElementSize(n int) int {
	switch {
	case n <= 11:
		return 1 + n
	case n <= 0xff:
		return 2 + n
	case n <= 0xffff:
		return 3 + n
	default:
		return 5 + n
	}
}

func appendJSONBHeader(dst []byte, typ byte, n int) []byte {
	switch {
	case n <= 11:
		return append(dst, typ|byte(n)<<4)
	case n <= 0xff:
		return append(dst, typ|12<<4, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, typ|13<<4), uint16(n))
	default:
		return binary.BigEndian.AppendUint32(append(dst, typ|14<<4), uint32(n))
	}
}

func appendJSONBInt(dst []byte, v int64) []byte {
	dst = appendJSONBHeader(dst, jsonbInt, decimalLen(v))
	return strconv.AppendInt(dst, v, 10)
}

// decimalLen is the length of v written in decimal.
func decimalLen(v int64) int {
	n := 1
	if v < 0 {
		n++
		if v == -v { // math.MinInt64
			return 20
		}
		v = -v
	}
	for ; v >= 10; v /= 10 {
		n++
	}
	return n
}
