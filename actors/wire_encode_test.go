package actors

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/config"
	"github.com/chatnode/chatnode/messages"
)

// wireTestStrings are texts that exercise every branch of JSON string
// escaping.
var wireTestStrings = []string{
	"",
	"hello",
	"Привет, как дела?",
	"emoji 😀👍🏽 and 🇷🇺",
	"<script>alert('x') && y > 1</script>",
	`quote " and backslash \ and both \"`,
	"tab\there\nnewline\rreturn",
	"\x00\x01\x07\b\f\x0b\x1b\x1f\x7f",
	"bad \xff utf-8 \xc3 \xe2\x82 end\x80",
	"line\u2028sep\u2029para",
	"\ufffd already a replacement",
	"/ slash and ' apostrophe and = sign",
	strings.Repeat("long text ", 100),
}

func int64p(n int64) *int64 { return &n }

// wireTestMessages returns messages with each field set and unset.
func wireTestMessages() []*wireMessage {
	ms := []*wireMessage{
		{},
		{Ts: "0"},
		{ID: "1", ClientSideID: "c1", ChatID: "7", AuthorID: int64p(0), Name: "Op", Text: "hi", Kind: chatnode.KindOperator,
			Ts: seconds(1_764_175_200_123_456), TsM: 1_764_175_200_123_456, Read: true, CanBeEdited: true},
		{ID: "2", ChatID: "7", AuthorID: int64p(math.MinInt64), Ts: seconds(-1_500_000), TsM: -1_500_000},
		{ID: "3", ChatID: "7", AuthorID: int64p(math.MaxInt64), Ts: "1e10", TsM: math.MaxInt64, Read: true},
		{ID: "4", Kind: chatnode.KindVisitor, Ts: seconds(1_000_001), TsM: 1_000_001, CanBeEdited: true},
		{ID: "5", Ts: "-0.5E+3", TsM: math.MinInt64},
	}
	for _, s := range wireTestStrings {
		ms = append(ms, &wireMessage{ID: s, ClientSideID: s, ChatID: s, Name: s, Text: s, Kind: s, Ts: seconds(1_500_000), TsM: 1_500_000})
	}
	// As the hub renders them.
	chat := &messages.Chat{Id: "42", ReadByVisitorSeq: 2, ReadByOperatorSeq: 1}
	for i, m := range []*messages.Message{
		{Id: "m1", ChatId: "42", AuthorId: "5", AuthorName: "Анна", Text: "Здравствуйте! <b>Чем</b> помочь?", Kind: chatnode.KindOperator, TsMicros: 1_764_175_200_000_000, Seq: 1},
		{Id: "m2", ClientSideId: "cs2", ChatId: "42", AuthorId: "v1", AuthorName: "Visitor", Text: "a \"quoted\" & \\ text", Kind: chatnode.KindVisitor, TsMicros: 1_764_175_201_000_100, Seq: 2},
		{Id: "m3", ChatId: "42", AuthorId: "not a number", Text: "info", Kind: "info", Seq: 3},
	} {
		ms = append(ms, messageJSON(m, chat))
		if i == 0 {
			ms = append(ms, messageJSON(m, nil))
		}
	}
	return ms
}

func marshalDelta(t testing.TB, objectType, event, id string, m *wireMessage) []byte {
	t.Helper()
	b, err := json.Marshal(wireDelta{ObjectType: objectType, Event: event, ID: id, Data: m})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAppendDeltaMatchesEncodingJSON(t *testing.T) {
	for _, m := range wireTestMessages() {
		for _, id := range []string{m.ID, "", "id <&> \"\u2028\xfe"} {
			want := marshalDelta(t, objMessage, "add", id, m)
			if got := appendDelta(nil, objMessage, "add", id, m); !bytes.Equal(got, want) {
				t.Errorf("appendDelta:\n got %s\nwant %s", got, want)
			}
			if got := delta(objMessage, "add", id, m); !bytes.Equal(got, want) {
				t.Errorf("delta:\n got %s\nwant %s", got, want)
			}
		}
	}
}

func TestAppendDeltaAppends(t *testing.T) {
	m := wireTestMessages()[2]
	want := append([]byte("prefix"), marshalDelta(t, objMessage, "add", m.ID, m)...)
	if got := appendDelta([]byte("prefix"), objMessage, "add", m.ID, m); !bytes.Equal(got, want) {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

// wireTestData returns delta data of every type appendData knows, each
// field set and unset, as the actors build them and beyond.
func wireTestData() []any {
	num := func(n json.Number) *json.Number { return &n }
	data := []any{nil, true, false, int32(0), int32(-7), int32(math.MaxInt32), 0, -1, math.MaxInt64,
		(*wireMessage)(nil), (*wireOperator)(nil), (*queueEntry)(nil), (*wireChat)(nil),
		&wireOperator{}, &wireOperator{ID: math.MinInt64, Fullname: "Анна"},
		wireRate{}, wireRate{OperatorID: -5, Rating: math.MinInt32},
		wireTyping{}, wireTyping{Typing: true},
		&queueEntry{}, &queueEntry{ChatID: "9", QueuedTs: seconds(1_764_175_200_000_001), queuedMicros: 1},
		&wireChat{},
		&wireChat{ID: -1, ClientSideID: "c", State: "queue", Operator: &wireOperator{ID: 3, Fullname: "Op"},
			Messages: []*wireMessage{nil, wireTestMessages()[2]}, CreationTs: "1.5", ModificationTs: seconds(-2_000_001),
			Offline: true, OperatorTyping: true, VisitorTyping: true, ReadByVisitor: true, UnreadByVisitorMsgCnt: -3,
			UnreadByOperatorSinceTs: num(""), UnreadByVisitorSinceTs: num("2e3"),
			OperatorIDToRate: map[string]wireRate{"9": {9, 1}, "10": {10, 5}, "": {}, "é<": {1, 2}},
			QueuePosition:    -4, VisitSessionID: "s", DepartmentKey: "d", VisitorName: "v", VisitorDraft: "dr"},
	}
	for _, s := range wireTestStrings {
		data = append(data, s, wireTyping{Draft: s, Typing: true}, &wireOperator{ID: 1, Fullname: s},
			&queueEntry{ChatID: s, DepartmentKey: s, QueuedTs: seconds(1_500_000), VisitorName: s, FirstText: s},
			&wireChat{ClientSideID: s, State: s, Messages: []*wireMessage{}, OperatorIDToRate: map[string]wireRate{s: {}},
				VisitSessionID: s, DepartmentKey: s, VisitorName: s, VisitorDraft: s})
	}
	// As the hub renders them.
	h := &Hub{accounts: newAccountBook(config.DefaultAccounts())}
	chat := &messages.Chat{Id: "42", ClientSideId: "cs", State: chatnode.ChatChatting, OperatorId: "1",
		CreatedMicros: 1_764_175_200_000_000, ModifiedMicros: 1_764_175_260_500_000, ReadByVisitorSeq: 1, ReadByOperatorSeq: 1,
		Rated: true, Rate: 5, RatedOperatorId: "1", QueuePosition: 2, VisitorId: "v1", DepartmentKey: "support",
		VisitorName: "Гость", VisitorDraft: "typing <this>", OperatorTyping: true}
	for i, m := range []*messages.Message{
		{Id: "m1", ChatId: "42", AuthorId: "1", AuthorName: "Анна", Text: "Здравствуйте!", Kind: chatnode.KindOperator, TsMicros: 1_764_175_200_000_000, Seq: 1},
		{Id: "m2", ClientSideId: "cs2", ChatId: "42", AuthorId: "v1", Text: "a \"quoted\" & \\ text", Kind: chatnode.KindVisitor, TsMicros: 1_764_175_201_000_100, Seq: 2},
		{Id: "m3", ChatId: "42", AuthorId: "1", Text: "unread", Kind: chatnode.KindOperator, TsMicros: 1_764_175_202_000_000, Seq: 3},
	} {
		chat.Messages = append(chat.Messages, m)
		data = append(data, h.chatJSON(chat, i%2 == 0), h.chatJSON(chat, i%2 == 1))
	}
	return data
}

func TestDeltaMatchesEncodingJSON(t *testing.T) {
	for _, d := range wireTestData() {
		for _, id := range []string{"7", "", "id <&> \"\u2028\xfe"} {
			want, err := json.Marshal(wireDelta{ObjectType: objChat, Event: "upd", ID: id, Data: d})
			if err != nil {
				t.Fatal(err)
			}
			if got := delta(objChat, "upd", id, d); !bytes.Equal(got, want) {
				t.Errorf("delta of %T:\n got %s\nwant %s", d, got, want)
			}
		}
	}
}

func TestDeltaFallsBackToEncodingJSON(t *testing.T) {
	if got, want := string(delta(objChat, "upd", "1", map[string]int{"b": 2, "a": 1})), `{"objectType":"CHAT","event":"upd","id":"1","data":{"a":1,"b":2}}`; got != want {
		t.Errorf("map: got %s, want %s", got, want)
	}
	if got, want := string(delta(objMessage, "add", "1", (*wireMessage)(nil))), `{"objectType":"CHAT_MESSAGE","event":"add","id":"1","data":null}`; got != want {
		t.Errorf("nil message: got %s, want %s", got, want)
	}
	if got, want := string(delta(objMessageRead, "upd", "1", true)), `{"objectType":"MESSAGE_READ","event":"upd","id":"1","data":true}`; got != want {
		t.Errorf("bool: got %s, want %s", got, want)
	}
}

func TestMessageDeltaAllocatesOnce(t *testing.T) {
	m := &wireMessage{ID: "1", ChatID: "7", AuthorID: int64p(math.MinInt64), Name: "n", Text: "t", Kind: "k", TsM: math.MinInt64}
	var out []byte
	if n := testing.AllocsPerRun(100, func() { out = messageDelta(objMessage, "add", m.ID, m) }); n != 1 {
		t.Errorf("%v allocations, want 1 (%d bytes)", n, len(out))
	}
}

func FuzzAppendDelta(f *testing.F) {
	for _, m := range wireTestMessages() {
		author, hasAuthor := int64(0), m.AuthorID != nil
		if hasAuthor {
			author = *m.AuthorID
		}
		f.Add(m.ID, m.Name, m.Text, m.TsM, author, hasAuthor, m.Read, m.CanBeEdited)
	}
	f.Fuzz(func(t *testing.T, id, name, text string, tsM, author int64, hasAuthor, read, canBeEdited bool) {
		m := &wireMessage{ID: id, ClientSideID: text, ChatID: name, Name: name, Text: text, Kind: id,
			Ts: seconds(tsM), TsM: tsM, Read: read, CanBeEdited: canBeEdited}
		if hasAuthor {
			m.AuthorID = &author
		}
		want, err := json.Marshal(wireDelta{ObjectType: objMessage, Event: "add", ID: id, Data: m})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendDelta(nil, objMessage, "add", id, m); !bytes.Equal(got, want) {
			t.Fatalf("appendDelta:\n got %s\nwant %s", got, want)
		}
		if got := delta(objMessage, "add", id, m); !bytes.Equal(got, want) {
			t.Fatalf("delta:\n got %s\nwant %s", got, want)
		}
	})
}

func FuzzDeltaData(f *testing.F) {
	for _, s := range wireTestStrings {
		f.Add(s, s, int64(1_500_000), int32(1), true)
	}
	f.Fuzz(func(t *testing.T, a, b string, micros int64, n int32, flag bool) {
		ts := seconds(micros)
		for _, d := range []any{a, n, flag, wireTyping{Draft: a, Typing: flag}, &wireOperator{ID: micros, Fullname: b},
			&queueEntry{ChatID: a, DepartmentKey: b, QueuedTs: ts, VisitorName: a, FirstText: b},
			&wireChat{ID: micros, ClientSideID: a, State: b, CreationTs: ts, UnreadByVisitorSinceTs: &ts, QueuePosition: n,
				Messages: []*wireMessage{{ID: a, Text: b, Ts: ts}}, OperatorIDToRate: map[string]wireRate{a: {micros, n}, b: {}},
				VisitorTyping: flag, VisitorName: a, VisitorDraft: b}} {
			want, err := json.Marshal(wireDelta{ObjectType: objQueue, Event: "add", ID: a, Data: d})
			if err != nil {
				t.Fatal(err)
			}
			if got := delta(objQueue, "add", a, d); !bytes.Equal(got, want) {
				t.Fatalf("delta of %T:\n got %s\nwant %s", d, got, want)
			}
		}
	})
}

// BenchmarkDeltaMessage renders an operator's 64-byte text message, by hand
// as delta does and through encoding/json as it did before.
func BenchmarkDeltaMessage(b *testing.B) {
	m := messageJSON(&messages.Message{
		Id: "1764175200123456-42", ChatId: "1042", AuthorId: "5", AuthorName: "Anna Petrova",
		Text: "Hello! Thank you for waiting. How can I help you with your order?"[:64], Kind: chatnode.KindOperator,
		TsMicros: 1_764_175_200_123_456, Seq: 3,
	}, &messages.Chat{Id: "1042", ReadByVisitorSeq: 2})
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			delta(objMessage, "add", m.ID, m)
		}
	})
	b.Run("mustJSON", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			mustJSON(wireDelta{ObjectType: objMessage, Event: "add", ID: m.ID, Data: m})
		}
	})
}
