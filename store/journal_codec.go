package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// A journal record is one Apply call:
//
//	payload length  uint32, little endian
//	CRC-32C         uint32, little endian, of the payload
//	payload         uvarint change count, then each change
//
// A change is a tag byte (which record it sets) and its fields in
// declaration order: strings and byte slices as a uvarint length and the
// bytes, integers as varints, times as varint Unix nanoseconds (0 for the
// zero Time), an optional int as a presence byte and a varint.
const (
	recordHeader = 8

	tagVisitor  = 1
	tagChat     = 2
	tagMessage  = 3
	tagOperator = 4
	tagRead     = 5
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errTorn means a record is cut short or does not match its checksum.
var errTorn = errors.New("torn or damaged record")

// appendRecord appends the record of changes to b.
func appendRecord(b []byte, changes []Change) []byte {
	start := len(b)
	b = append(b, make([]byte, recordHeader)...)
	b = binary.AppendUvarint(b, uint64(len(changes)))
	for i := range changes {
		b = appendChange(b, &changes[i])
	}
	payload := b[start+recordHeader:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, crcTable))
	return b
}

func appendChange(b []byte, c *Change) []byte {
	switch {
	case c.Visitor != nil:
		v := c.Visitor
		b = append(b, tagVisitor)
		b = appendStrings(b, v.ID, v.PageID, v.AuthToken, v.DeviceID)
		b = appendBytes(b, v.Fields)
		b = appendTime(b, v.CreatedAt)
		b = appendTime(b, v.SeenAt)
	case c.Chat != nil:
		ch := c.Chat
		b = append(b, tagChat)
		b = appendStrings(b, ch.ID, ch.VisitorID, ch.ClientSideID, ch.DepartmentKey, ch.State, ch.OperatorID)
		b = appendTime(b, ch.QueuedAt)
		b = appendTime(b, ch.CreatedAt)
		b = appendTime(b, ch.ModifiedAt)
		b = appendTime(b, ch.ClosedAt)
		if ch.Rate != nil {
			b = append(b, 1)
			b = binary.AppendVarint(b, int64(*ch.Rate))
		} else {
			b = append(b, 0)
		}
		b = appendStrings(b, ch.RatedOperatorID)
		b = binary.AppendVarint(b, ch.NextSeq)
	case c.Message != nil:
		m := c.Message
		b = append(b, tagMessage)
		b = appendStrings(b, m.ID, m.ChatID)
		b = binary.AppendVarint(b, m.Seq)
		b = appendStrings(b, m.Kind, m.AuthorID, m.AuthorName, m.Text, m.ClientSideID)
		b = appendTime(b, m.CreatedAt)
	case c.Operator != nil:
		o := c.Operator
		b = append(b, tagOperator)
		b = appendStrings(b, o.OperatorID, o.Status)
		b = appendTime(b, o.LastAssignedAt)
		b = appendTime(b, o.UpdatedAt)
	case c.Read != nil:
		r := c.Read
		b = append(b, tagRead)
		b = appendStrings(b, r.ChatID, r.Side)
		b = binary.AppendVarint(b, r.UpToSeq)
	}
	return b
}

func appendStrings(b []byte, ss ...string) []byte {
	for _, s := range ss {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return b
}

// appendBytes keeps nil apart from empty: length+1, or 0 for nil.
func appendBytes(b, p []byte) []byte {
	if p == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(p))+1)
	return append(b, p...)
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// readRecord decodes the record at the start of b and returns its changes
// and its length. It returns errTorn when b holds less than a whole record
// or the checksum does not match.
func readRecord(b []byte) ([]Change, int, error) {
	if len(b) < recordHeader {
		return nil, 0, errTorn
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n > len(b)-recordHeader {
		return nil, 0, errTorn
	}
	payload := b[recordHeader : recordHeader+n]
	if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, errTorn
	}
	// The strings of a record share one copy of its payload: one
	// allocation a record instead of one a field.
	d := decoder{b: payload, s: string(payload)}
	count := d.uvarint()
	if count > uint64(len(payload)) {
		return nil, 0, fmt.Errorf("%w: %d changes in %d bytes", errTorn, count, len(payload))
	}
	changes := make([]Change, count)
	for i := range changes {
		d.change(&changes[i])
	}
	if d.err != nil {
		return nil, 0, d.err
	}
	return changes, recordHeader + n, nil
}

// decoder reads a payload; the first error sticks and zero values follow.
// s is the whole payload as a string: string returns pieces of it.
type decoder struct {
	b   []byte // the payload not yet read
	s   string
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = fmt.Errorf("%w: payload cut short", errTorn)
	}
	d.b = nil
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail()
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) raw(n uint64) []byte {
	if n > uint64(len(d.b)) {
		d.fail()
		return nil
	}
	p := d.b[:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) string() string {
	n := d.uvarint()
	at := len(d.s) - len(d.b)
	if d.raw(n) == nil {
		return ""
	}
	return d.s[at : at+int(n)]
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if n == 0 {
		return nil
	}
	return append([]byte{}, d.raw(n-1)...)
}

func (d *decoder) time() time.Time {
	ns := d.varint()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (d *decoder) change(c *Change) {
	switch tag := d.byte(); tag {
	case tagVisitor:
		c.Visitor = &Visitor{ID: d.string(), PageID: d.string(), AuthToken: d.string(), DeviceID: d.string(),
			Fields: d.bytes(), CreatedAt: d.time(), SeenAt: d.time()}
	case tagChat:
		ch := &Chat{ID: d.string(), VisitorID: d.string(), ClientSideID: d.string(), DepartmentKey: d.string(),
			State: d.string(), OperatorID: d.string(), QueuedAt: d.time(), CreatedAt: d.time(), ModifiedAt: d.time(),
			ClosedAt: d.time()}
		if d.byte() == 1 {
			r := int(d.varint())
			ch.Rate = &r
		}
		ch.RatedOperatorID = d.string()
		ch.NextSeq = d.varint()
		c.Chat = ch
	case tagMessage:
		m := &Message{ID: d.string(), ChatID: d.string(), Seq: d.varint()}
		m.Kind, m.AuthorID, m.AuthorName, m.Text, m.ClientSideID = d.string(), d.string(), d.string(), d.string(), d.string()
		m.CreatedAt = d.time()
		c.Message = m
	case tagOperator:
		c.Operator = &OperatorState{OperatorID: d.string(), Status: d.string(), LastAssignedAt: d.time(), UpdatedAt: d.time()}
	case tagRead:
		c.Read = &Read{ChatID: d.string(), Side: d.string(), UpToSeq: d.varint()}
	default:
		if d.err == nil {
			d.err = fmt.Errorf("%w: unknown change tag %d", errTorn, tag)
		}
	}
}
