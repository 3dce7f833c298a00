package node_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chatnode/chatnode/internal/testutil"
)

// TestHealth: /health tells the node's name, role and state as JSON.
func TestHealth(t *testing.T) {
	n := mustRunMain(t)
	a := n.get(t, "/health", nil)
	if a.Status != http.StatusOK || !strings.HasPrefix(a.ContentType, "application/json") {
		t.Fatalf("health: %s (%s)", a, a.ContentType)
	}
	type health struct {
		Node   string `json:"node"`
		Role   string `json:"role"`
		Mode   string `json:"mode"`
		Status string `json:"status"`
		Store  string `json:"store"`
	}
	var got health
	if err := json.Unmarshal(a.Body, &got); err != nil {
		t.Fatalf("health body %s: %v", a.Body, err)
	}
	if want := (health{"standalone", "standalone", "standalone", "ok", "ok"}); got != want {
		t.Fatalf("health = %+v, want %+v", got, want)
	}
}

// TestSessionFlow runs one chat from start to close: the operator follows it
// on a WebSocket, the visitor on long polls.
func TestSessionFlow(t *testing.T) {
	n := mustRunMain(t)
	op := n.login(t, "alice")
	ows := n.mustDial(t, "/ws/o/delta", pairs("auth-token", op.Token, "since", "0"))
	first := ows.waitFrames(t, 1)[0]
	var of operatorFull
	if err := json.Unmarshal(first.FullUpdate, &of); err != nil || first.FullUpdate == nil || first.Revision == 0 {
		t.Fatalf("first operator frame is not a fullUpdate: %+v", first)
	}
	if of.Operator.ID != 1 || of.Operator.Login != "alice" || of.Status != "offline" || len(of.Chats) != 0 {
		t.Fatalf("operator fullUpdate = %+v", of)
	}
	op.setStatus(t, "online")
	ows.waitItem(t, "OPERATOR_STATUS online", itemData("OPERATOR_STATUS", "upd", `"online"`))

	v := n.newVisitor(t)
	if v.Full.Chat != nil || v.Full.State != "idle" {
		t.Fatalf("a new visitor has a chat: %+v", v.Full)
	}
	const question = "Hello, I need help with my order"
	v.mustAct(t, "chat.start", "first-question", question, "client-side-id", "start-1")

	// The operator gets the chat with the question.
	chatItem := ows.waitItem(t, "the chat with the question", func(d deltaItem) bool {
		c := d.chat()
		return d.is("CHAT", "upd") && c.State == "chatting" && slices.Contains(c.texts("visitor"), question)
	})
	chat := chatItem.chat()
	chatID := chat.idString()
	if chatItem.ID != chatID || chat.Operator == nil || chat.Operator.ID != 1 || chat.VisitSessionID != v.Session {
		t.Fatalf("operator's chat = %s", chatItem)
	}
	// The visitor sees the chat start and the operator join.
	v.waitDelta(t, "CHAT_STATE chatting", itemData("CHAT_STATE", "upd", `"chatting"`))
	opItem := v.waitDelta(t, "CHAT_OPERATOR alice", func(d deltaItem) bool { return d.is("CHAT_OPERATOR", "upd") && d.ID == chatID })
	var chatOp struct {
		ID       int64  `json:"id"`
		Fullname string `json:"fullname"`
	}
	if err := json.Unmarshal(opItem.Data, &chatOp); err != nil || chatOp.ID != 1 || chatOp.Fullname != "Alice" {
		t.Fatalf("CHAT_OPERATOR = %s", opItem)
	}
	v.waitDelta(t, "VISIT_SESSION_STATE chat", itemData("VISIT_SESSION_STATE", "upd", `"chat"`))

	// Messages both ways.
	v.mustAct(t, "chat.message", "message", "Where is parcel 42?", "client-side-id", "v-1")
	vm := ows.waitItem(t, "the visitor's message", messageText("Where is parcel 42?")).message()
	if vm.Kind != "visitor" || vm.ClientSideID != "v-1" || vm.ChatID != chatID {
		t.Fatalf("operator got visitor message %+v", vm)
	}
	op.mustAct(t, "chat.message", chatID, "message", "On its way.", "client-side-id", "o-1")
	om := v.waitDelta(t, "the operator's message", messageText("On its way.")).message()
	if om.Kind != "operator" || om.AuthorID == nil || *om.AuthorID != 1 || om.ClientSideID != "o-1" || om.Name != "Alice" {
		t.Fatalf("visitor got operator message %+v", om)
	}

	// Typing both ways.
	v.mustAct(t, "chat.visitor_typing", "typing", "true", "message-draft", "Thanks, and")
	ows.waitItem(t, "CHAT_VISITOR_TYPING", itemData("CHAT_VISITOR_TYPING", "upd", `{"draft":"Thanks, and","typing":true}`))
	op.mustAct(t, "chat.operator_typing", chatID, "typing", "1")
	v.waitDelta(t, "CHAT_OPERATOR_TYPING true", itemData("CHAT_OPERATOR_TYPING", "upd", "true"))
	op.mustAct(t, "chat.operator_typing", chatID, "typing", "0")
	v.waitDelta(t, "CHAT_OPERATOR_TYPING false", itemData("CHAT_OPERATOR_TYPING", "upd", "false"))

	// Read markers both ways.
	v.mustAct(t, "chat.read_by_visitor")
	ows.waitItem(t, "MESSAGE_READ of the operator's message", func(d deltaItem) bool {
		return d.is("MESSAGE_READ", "upd") && d.ID == om.ID
	})
	ows.waitItem(t, "CHAT_READ_BY_VISITOR", itemData("CHAT_READ_BY_VISITOR", "upd", "true"))
	v.waitDelta(t, "CHAT_READ_BY_VISITOR", itemData("CHAT_READ_BY_VISITOR", "upd", "true"))
	op.mustAct(t, "chat.read_by_operator", chatID)
	v.waitDelta(t, "MESSAGE_READ of the visitor's message", func(d deltaItem) bool {
		return d.is("MESSAGE_READ", "upd") && d.ID == vm.ID
	})

	// Rating and close.
	v.mustAct(t, "chat.operator_rate_select", "rate", "2", "operator_id", "1")
	rate := `{"operatorId":1,"rating":2}`
	ows.waitItem(t, "OPERATOR_RATE", itemData("OPERATOR_RATE", "upd", rate))
	v.waitDelta(t, "OPERATOR_RATE", itemData("OPERATOR_RATE", "upd", rate))
	v.mustAct(t, "chat.close")
	ows.waitItem(t, "CHAT_STATE closed_by_visitor", itemData("CHAT_STATE", "upd", `"closed_by_visitor"`))
	ows.waitItem(t, "CHAT del", func(d deltaItem) bool { return d.is("CHAT", "del") && d.ID == chatID })
	v.waitDelta(t, "CHAT_STATE closed_by_visitor", itemData("CHAT_STATE", "upd", `"closed_by_visitor"`))

	// A fresh full state agrees with what the deltas told.
	vf := v.full(t)
	if vf.Chat == nil || vf.Chat.idString() != chatID || vf.Chat.State != "closed_by_visitor" {
		t.Fatalf("visitor's chat after close = %+v", vf.Chat)
	}
	if got, want := vf.Chat.texts("visitor"), []string{question, "Where is parcel 42?"}; !slices.Equal(got, want) {
		t.Fatalf("visitor messages = %q, want %q", got, want)
	}
	if got, want := vf.Chat.texts("operator"), []string{"On its way."}; !slices.Equal(got, want) {
		t.Fatalf("operator messages = %q, want %q", got, want)
	}
	if r, ok := vf.Chat.OperatorIDToRate["1"]; !ok || r.Rating != 2 || r.OperatorID != 1 {
		t.Fatalf("rating = %+v", vf.Chat.OperatorIDToRate)
	}
	for _, m := range vf.Chat.Messages {
		if !m.Read {
			t.Errorf("message %s %q is unread after both read markers", m.ID, m.Text)
		}
	}
	if f, _ := op.full(t); f.Status != "online" || f.chat(chatID) != nil && f.chat(chatID).State != "closed_by_visitor" {
		t.Fatalf("operator after the close: status %s, chats %+v", f.Status, f.Chats)
	}

	// Both histories list the chat's messages, oldest first.
	all := vf.Chat.texts("")
	var vh struct {
		Result string `json:"result"`
		Data   struct {
			Messages []wireMessage `json:"messages"`
		} `json:"data"`
	}
	if a := n.get(t, "/l/v/m/history", v.auth()); a.Status != http.StatusOK || json.Unmarshal(a.Body, &vh) != nil || vh.Result != "ok" {
		t.Fatalf("visitor history: %s", a)
	}
	if got := (wireChat{Messages: vh.Data.Messages}).texts(""); !slices.Equal(got, all) {
		t.Errorf("visitor history = %q, want %q", got, all)
	}
	var oh struct {
		Messages []wireMessage `json:"messages"`
	}
	if a := n.get(t, "/l/o/history", pairs("auth-token", op.Token, "chat-id", chatID)); a.Status != http.StatusOK || json.Unmarshal(a.Body, &oh) != nil {
		t.Fatalf("operator history: %s", a)
	}
	if got := (wireChat{Messages: oh.Messages}).texts(""); !slices.Equal(got, all) {
		t.Errorf("operator history = %q, want %q", got, all)
	}
}

// TestOperatorDropsClosedChat: once a chat closes, the operator's stream
// deletes it and never brings it back.
func TestOperatorDropsClosedChat(t *testing.T) {
	n := mustRunMain(t)
	v, op, chatID := openChat(t, n, "close me")
	ows := n.mustDial(t, "/ws/o/delta", pairs("auth-token", op.Token, "since", "0"))
	ows.waitFrames(t, 1)
	v.mustAct(t, "chat.close")
	ows.waitItem(t, "CHAT del", func(d deltaItem) bool { return d.is("CHAT", "del") && d.ID == chatID })
	op.drain(t, ows.lastRevision())
	items := ows.items()
	del := slices.IndexFunc(items, func(d deltaItem) bool { return d.is("CHAT", "del") })
	for _, d := range items[del+1:] {
		if d.ObjectType == "CHAT" && d.ID == chatID {
			t.Errorf("after CHAT del the operator got %s", d)
		}
	}
	if f, _ := op.full(t); len(f.Chats) != 0 {
		t.Errorf("operator's fullUpdate lists chats after the close: %+v", f.Chats)
	}
}

// TestQueuePosition: with the only operator at max_chats, waiting visitors
// see their place in the queue move up as chats end.
func TestQueuePosition(t *testing.T) {
	dir := t.TempDir()
	accounts := writeAccounts(t, dir, testOperator{ID: "1", Login: "alice", Departments: []string{"support"}, MaxChats: 1})
	n := mustRunMain(t, "accounts_file", accounts)
	op := n.login(t, "alice")
	op.setStatus(t, "online")

	v1 := n.newVisitor(t)
	v1.mustAct(t, "chat.start", "first-question", "first")
	v1.waitDelta(t, "CHAT_STATE chatting", itemData("CHAT_STATE", "upd", `"chatting"`))

	v2 := n.newVisitor(t)
	v2.mustAct(t, "chat.start", "first-question", "second")
	v2.waitDelta(t, "QUEUE_POSITION 1", itemData("QUEUE_POSITION", "upd", "1"))
	v3 := n.newVisitor(t)
	v3.mustAct(t, "chat.start", "first-question", "third")
	v3.waitDelta(t, "QUEUE_POSITION 2", itemData("QUEUE_POSITION", "upd", "2"))
	if f := v3.full(t); f.Chat == nil || f.Chat.State != "queue" || f.Chat.QueuePosition != 2 {
		t.Fatalf("third visitor's chat = %+v", f.Chat)
	}

	var chat1, chat2, chat3 string
	testutil.WaitFor(t, waitTimeout, func() error {
		f, _ := op.full(t)
		if len(f.Chats) != 1 || len(f.Queue) != 2 {
			return fmt.Errorf("operator holds %d chats and sees %d waiting, want 1 and 2", len(f.Chats), len(f.Queue))
		}
		chat1, chat2, chat3 = f.Chats[0].idString(), f.Queue[0].ChatID, f.Queue[1].ChatID
		if f.Queue[0].FirstText != "second" || f.Queue[1].FirstText != "third" {
			return fmt.Errorf("queue = %+v", f.Queue)
		}
		return nil
	})

	// The operator ends the first chat: the second is assigned, the third
	// moves up.
	op.mustAct(t, "chat.close", chat1)
	v1.waitDelta(t, "CHAT_STATE closed_by_operator", itemData("CHAT_STATE", "upd", `"closed_by_operator"`))
	v2.waitDelta(t, "CHAT_STATE chatting", itemData("CHAT_STATE", "upd", `"chatting"`))
	v3.waitDelta(t, "QUEUE_POSITION 1", itemData("QUEUE_POSITION", "upd", "1"))
	testutil.WaitFor(t, waitTimeout, func() error {
		f, _ := op.full(t)
		if c := f.chat(chat2); c == nil || c.State != "chatting" || f.queued(chat2) || !f.queued(chat3) {
			return fmt.Errorf("operator holds %+v and sees waiting %+v", f.Chats, f.Queue)
		}
		return nil
	})
	for _, d := range v2.Items {
		if d.is("QUEUE_POSITION", "upd") && string(d.Data) != "1" {
			t.Errorf("second visitor was told position %s", d.Data)
		}
	}
}

// TestResumeLongPoll: a visitor that stops polling gets exactly what it
// missed when it polls again with its last revision.
func TestResumeLongPoll(t *testing.T) {
	n := mustRunMain(t)
	v, op, chatID := openChat(t, n, "resume by long poll")
	since := v.Rev
	sent := []string{"missed 1", "missed 2", "missed 3"}
	for i, text := range sent {
		op.mustAct(t, "chat.message", chatID, "message", text, "client-side-id", "lp-"+strconv.Itoa(i))
	}
	u := v.poll(t, since)
	if u.FullUpdate != nil || len(u.DeltaList) != len(sent) {
		t.Fatalf("poll since=%d = %+v, want the %d missed messages", since, u, len(sent))
	}
	if got := chatMessages(u.DeltaList); !slices.Equal(got, sent) {
		t.Fatalf("poll since=%d = %q, want %q", since, got, sent)
	}
	if u.Revision <= since {
		t.Fatalf("revision %d after %d", u.Revision, since)
	}
	if again := v.poll(t, u.Revision); !again.empty() {
		t.Fatalf("poll with the new revision = %+v, want {}", again)
	}
	// Polling with the old revision again gives the same answer.
	if u2 := v.poll(t, since); !slices.Equal(chatMessages(u2.DeltaList), sent) || u2.Revision != u.Revision {
		t.Fatalf("second poll since=%d = %+v", since, u2)
	}
}

// TestResumeWebSocket: a client that reconnects with the last revision it
// saw gets exactly the changes it missed, once each, in order.
func TestResumeWebSocket(t *testing.T) {
	n := mustRunMain(t)
	v, op, chatID := openChat(t, n, "resume by socket")
	vmsg := func(text string) { v.mustAct(t, "chat.message", "message", text, "client-side-id", text) }
	omsg := func(text string) { op.mustAct(t, "chat.message", chatID, "message", text, "client-side-id", text) }

	t.Run("visitor", func(t *testing.T) {
		resumeSocket(t, n, "/ws/v/delta", v.auth(), omsg, "to visitor")
	})
	t.Run("operator", func(t *testing.T) {
		resumeSocket(t, n, "/ws/o/delta", pairs("auth-token", op.Token), vmsg, "to operator")
	})
}

// resumeSocket connects to path with since=0, sees a message, disconnects,
// misses three and reconnects with the last revision it saw.
func resumeSocket(t *testing.T, n *testNode, path string, auth url.Values, send func(string), prefix string) {
	s := n.mustDial(t, path, merge(auth, "since", "0"))
	first := s.waitFrames(t, 1)[0]
	if first.FullUpdate == nil || first.DeltaList != nil || first.Revision == 0 {
		t.Fatalf("first frame with since=0 is not a fullUpdate: %+v", first)
	}
	send(prefix + " live")
	s.waitItem(t, "the live message", messageText(prefix+" live"))
	since := s.lastRevision()
	s.close()

	missed := []string{prefix + " missed 1", prefix + " missed 2", prefix + " missed 3"}
	for _, text := range missed {
		send(text)
	}
	s2 := n.mustDial(t, path, merge(auth, "since", strconv.FormatInt(since, 10)))
	s2.waitItem(t, "the last missed message", messageText(missed[2]))
	// A message sent after the reconnect closes the run: everything before
	// it on the socket is what the resume delivered.
	send(prefix + " after")
	s2.waitItem(t, "the message after the reconnect", messageText(prefix+" after"))
	frames := s2.Frames()
	if frames[0].FullUpdate != nil || frames[0].Revision <= since {
		t.Fatalf("first frame after resuming from %d: %+v", since, frames[0])
	}
	want := append(slices.Clone(missed), prefix+" after")
	if got := chatMessages(s2.items()); !slices.Equal(got, want) {
		t.Fatalf("messages after resuming = %q, want %q", got, want)
	}
	for _, f := range frames {
		if f.FullUpdate != nil {
			t.Fatalf("a fullUpdate after resuming: %+v", f)
		}
	}
}

// TestClientSideIDOnce: resends of a client-side id, one after another or
// at the same time, make one message.
func TestClientSideIDOnce(t *testing.T) {
	n := mustRunMain(t)
	v, op, chatID := openChat(t, n, "dedup")
	ows := n.mustDial(t, "/ws/o/delta", pairs("auth-token", op.Token, "since", "0"))
	ows.waitFrames(t, 1)

	v.mustAct(t, "chat.message", "message", "once", "client-side-id", "dup-serial")
	v.mustAct(t, "chat.message", "message", "once", "client-side-id", "dup-serial")

	const parallel = 8
	var wg sync.WaitGroup
	errs := make(chan string, 2*parallel)
	for range parallel {
		wg.Add(2)
		go func() {
			defer wg.Done()
			form := v.auth("action", "chat.message", "message", "at once", "client-side-id", "dup-parallel")
			if a, err := n.request(http.MethodPost, "/l/v/m/action", form.Encode()); err != nil || !a.ok() {
				errs <- fmt.Sprintf("visitor: %v %s", err, a)
			}
		}()
		go func() {
			defer wg.Done()
			form := pairs("auth-token", op.Token, "action", "chat.message", "chat-id", chatID,
				"message", "op at once", "client-side-id", "dup-operator")
			if a, err := n.request(http.MethodPost, "/l/o/action", form.Encode()); err != nil || !a.ok() {
				errs <- fmt.Sprintf("operator: %v %s", err, a)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("resend answered %s", e)
	}
	v.mustAct(t, "chat.message", "message", "sentinel", "client-side-id", "sentinel")
	ows.waitItem(t, "the sentinel", messageText("sentinel"))

	ids := []string{"dup-serial", "dup-parallel", "dup-operator", "sentinel"}
	count := map[string]int{}
	for _, d := range ows.items() {
		if d.is("CHAT_MESSAGE", "add") {
			count[d.message().ClientSideID]++
		}
	}
	for _, id := range ids {
		if count[id] != 1 {
			t.Errorf("operator socket got %d CHAT_MESSAGE adds with clientSideId %s, want 1", count[id], id)
		}
	}
	f, _ := op.full(t)
	vf := v.full(t)
	for _, c := range []*wireChat{f.chat(chatID), vf.Chat} {
		if c == nil {
			t.Fatalf("chat %s missing from a fullUpdate", chatID)
		}
		for _, id := range ids {
			if got := c.countClientSideID(id); got != 1 {
				t.Errorf("fullUpdate holds %d messages with clientSideId %s, want 1", got, id)
			}
		}
		if got := len(c.Messages); got != 6 { // question, join, 4 messages
			t.Errorf("fullUpdate holds %d messages, want 6: %q", got, c.texts(""))
		}
	}
}

// TestClientSideIDPerAuthor: a client-side id is the sender's own; the
// same id from the visitor and from the operator makes two messages.
func TestClientSideIDPerAuthor(t *testing.T) {
	n := mustRunMain(t)
	v, op, chatID := openChat(t, n, "same id")
	v.mustAct(t, "chat.message", "message", "from the visitor", "client-side-id", "same")
	op.mustAct(t, "chat.message", chatID, "message", "from the operator", "client-side-id", "same")
	want := []string{"same id", "Alice joined the chat", "from the visitor", "from the operator"}
	if got := v.full(t).Chat.texts(""); !slices.Equal(got, want) {
		t.Errorf("visitor's chat = %q, want %q", got, want)
	}
	f, _ := op.full(t)
	if c := f.chat(chatID); c == nil || !slices.Equal(c.texts(""), want) {
		t.Errorf("operator's chat = %+v, want %q", c, want)
	}
}

// badCase is one bad request and the error it must get.
type badCase struct {
	name   string
	do     func() answer
	status int
	code   string
	arg    string // the argumentName, when the code is wrong-argument-value
}

// TestBadInput: every bad request gets its error code and status and
// changes nothing, and no visitor token reaches another visitor's session.
func TestBadInput(t *testing.T) {
	n := mustRunMain(t, "max_message_length", "20", "max_body_bytes", "4096")
	a, op, chatA := openChat(t, n, "bad input")
	b := n.newVisitor(t)
	b.mustAct(t, "chat.start", "first-question", "other visitor")
	b.waitDelta(t, "CHAT_STATE chatting", itemData("CHAT_STATE", "upd", `"chatting"`))
	b.drain(t)
	c := n.newVisitor(t) // no chat
	_, opRev := op.full(t)
	opRev = op.drain(t, opRev)

	raw := func(path, form string) func() answer {
		return func() answer { return n.mustRequest(t, http.MethodPost, path, form) }
	}
	vact := func(v *visitor, kv ...string) func() answer {
		return func() answer { return n.post(t, "/l/v/m/action", v.auth(kv...)) }
	}
	vget := func(path string, q url.Values) func() answer { return func() answer { return n.get(t, path, q) } }
	oact := func(kv ...string) func() answer {
		return func() answer {
			return n.post(t, "/l/o/action", merge(pairs("auth-token", op.Token, "chat-id", chatA), kv...))
		}
	}
	tooLong := strings.Repeat("é", 21)
	huge := strings.Repeat("x", 5000)
	aWithB := pairs("page-id", a.PageID, "auth-token", b.Token)
	bWithA := pairs("page-id", b.PageID, "auth-token", a.Token)
	wrongToken := pairs("page-id", a.PageID, "auth-token", strings.Repeat("0", len(a.Token)))
	const (
		bad      = http.StatusBadRequest
		wrongArg = "wrong-argument-value"
		reinit   = "reinit-required"
		noAuth   = "wrong-auth-token"
	)
	cases := []badCase{
		{"message missing", vact(a, "action", "chat.message", "client-side-id", "x"), bad, wrongArg, "message"},
		{"message empty", vact(a, "action", "chat.message", "message", "", "client-side-id", "x"), bad, wrongArg, "message"},
		{"client-side-id missing", vact(a, "action", "chat.message", "message", "hi"), bad, wrongArg, "client-side-id"},
		{"client-side-id control character", vact(a, "action", "chat.message", "message", "hi", "client-side-id", "a\x01"), bad, wrongArg, "client-side-id"},
		{"message invalid UTF-8", raw("/l/v/m/action", a.auth("action", "chat.message", "client-side-id", "x").Encode()+"&message=%FF%FE"), bad, wrongArg, "message"},
		{"message NUL", vact(a, "action", "chat.message", "message", "a\x00b", "client-side-id", "x"), bad, wrongArg, "message"},
		{"message too long", vact(a, "action", "chat.message", "message", tooLong, "client-side-id", "x"), bad, "max-message-length-exceeded", ""},
		{"file message", vact(a, "action", "chat.message", "message", "hi", "client-side-id", "x", "kind", "file_visitor"), bad, wrongArg, "kind"},
		{"body too large", vact(a, "action", "chat.message", "message", huge, "client-side-id", "x"), http.StatusRequestEntityTooLarge, "request-entity-too-large", ""},
		{"since malformed", vget("/l/v/m/delta", a.auth("since", "abc")), bad, wrongArg, "since"},
		{"since negative", vget("/l/v/m/delta", a.auth("since", "-1")), bad, wrongArg, "since"},
		{"ts malformed", vget("/l/v/m/delta", a.auth("since", "0", "ts", "soon")), bad, wrongArg, "ts"},
		{"rate malformed", vact(a, "action", "chat.operator_rate_select", "rate", "abc"), bad, wrongArg, "rate"},
		{"rate missing", vact(a, "action", "chat.operator_rate_select", "operator_id", "1"), bad, wrongArg, "rate"},
		{"rate too high", vact(a, "action", "chat.operator_rate_select", "rate", "5", "operator_id", "1"), bad, "rate-value-incorrect", ""},
		{"rate too low", vact(a, "action", "chat.operator_rate_select", "rate", "-3"), bad, "rate-value-incorrect", ""},
		{"typing malformed", vact(a, "action", "chat.visitor_typing", "typing", "maybe"), bad, wrongArg, "typing"},
		{"typing missing", vact(a, "action", "chat.visitor_typing", "message-draft", "x"), bad, wrongArg, "typing"},
		{"unknown action", vact(a, "action", "chat.delete_message"), bad, "unknown-action", ""},
		{"action missing", vact(a), bad, wrongArg, "action"},
		{"history limit malformed", vget("/l/v/m/history", a.auth("limit", "0")), bad, wrongArg, "limit"},
		{"page-id missing", vget("/l/v/m/delta", pairs("auth-token", a.Token)), http.StatusUnauthorized, noAuth, ""},
		{"wrong token: action", vact(&visitor{PageID: a.PageID, Token: wrongToken.Get("auth-token")}, "action", "chat.close"), http.StatusOK, reinit, ""},
		{"wrong token: delta", vget("/l/v/m/delta", wrongToken), http.StatusOK, reinit, ""},
		{"wrong token: history", vget("/l/v/m/history", wrongToken), http.StatusOK, reinit, ""},
		{"unknown page", vget("/l/v/m/delta", pairs("page-id", "nosuchpage", "auth-token", a.Token)), http.StatusOK, reinit, ""},
		{"A's page, B's token: action", vact(&visitor{PageID: a.PageID, Token: b.Token}, "action", "chat.message", "message", "hijack", "client-side-id", "h1"), http.StatusOK, reinit, ""},
		{"A's page, B's token: delta", vget("/l/v/m/delta", merge(aWithB, "since", "0")), http.StatusOK, reinit, ""},
		{"A's page, B's token: history", vget("/l/v/m/history", aWithB), http.StatusOK, reinit, ""},
		{"B's page, A's token: action", vact(&visitor{PageID: b.PageID, Token: a.Token}, "action", "chat.close"), http.StatusOK, reinit, ""},
		{"B's page, A's token: delta", vget("/l/v/m/delta", merge(bWithA, "since", "0")), http.StatusOK, reinit, ""},
		{"B's page, A's token: history", vget("/l/v/m/history", bWithA), http.StatusOK, reinit, ""},
		{"unknown department", vact(c, "action", "chat.start", "department-key", "nope", "first-question", "hi"), http.StatusNotFound, "department-not-found", ""},
		{"close without a chat", vact(c, "action", "chat.close"), bad, "no-chat", ""},
		{"typing without a chat", vact(c, "action", "chat.visitor_typing", "typing", "1"), bad, "no-chat", ""},

		{"operator: no token, delta", vget("/l/o/delta", nil), http.StatusUnauthorized, noAuth, ""},
		{"operator: no token, set-status", raw("/l/o/set-status", "status=offline"), http.StatusUnauthorized, noAuth, ""},
		{"operator: no token, action", raw("/l/o/action", "action=chat.close&chat-id="+chatA), http.StatusUnauthorized, noAuth, ""},
		{"operator: no token, history", vget("/l/o/history", pairs("chat-id", chatA)), http.StatusUnauthorized, noAuth, ""},
		{"operator: forged token", raw("/l/o/action", pairs("auth-token", "MQ.99999999999.c2lnbmF0dXJl", "action", "chat.close", "chat-id", chatA).Encode()), http.StatusUnauthorized, noAuth, ""},
		{"operator: visitor token", raw("/l/o/action", pairs("auth-token", a.Token, "action", "chat.close", "chat-id", chatA).Encode()), http.StatusUnauthorized, noAuth, ""},
		{"operator: wrong password", raw("/l/o/login", "login=alice&password=wrong"), http.StatusUnauthorized, "wrong-credentials", ""},
		{"operator: unknown chat", oact("action", "chat.message", "chat-id", "12345", "message", "hi", "client-side-id", "o1"), http.StatusForbidden, "operator-not-in-chat", ""},
		{"operator: chat-id missing", func() answer {
			return n.post(t, "/l/o/action", pairs("auth-token", op.Token, "action", "chat.close"))
		}, bad, wrongArg, "chat-id"},
		{"operator: message missing", oact("action", "chat.message", "client-side-id", "o1"), bad, wrongArg, "message"},
		{"operator: message too long", oact("action", "chat.message", "message", tooLong, "client-side-id", "o1"), bad, "max-message-length-exceeded", ""},
		{"operator: message invalid UTF-8", raw("/l/o/action", pairs("auth-token", op.Token, "action", "chat.message", "chat-id", chatA, "client-side-id", "o1").Encode()+"&message=%C3%28"), bad, wrongArg, "message"},
		{"operator: body too large", oact("action", "chat.message", "message", huge, "client-side-id", "o1"), http.StatusRequestEntityTooLarge, "request-entity-too-large", ""},
		{"operator: typing malformed", oact("action", "chat.operator_typing", "typing", "yes"), bad, wrongArg, "typing"},
		{"operator: unknown action", oact("action", "chat.delete"), bad, "unknown-action", ""},
		{"operator: transfer to both", oact("action", "chat.transfer", "operator-id", "2", "department-key", "sales"), bad, wrongArg, "operator-id"},
		{"operator: transfer to nobody", oact("action", "chat.transfer", "operator-id", "77"), http.StatusNotFound, "operator-not-found", ""},
		{"operator: take a held chat", oact("action", "chat.take"), http.StatusConflict, "chat-already-taken", ""},
		{"operator: unknown status", raw("/l/o/set-status", pairs("auth-token", op.Token, "status", "away").Encode()), bad, "status-unknown", ""},
		{"operator: since malformed", vget("/l/o/delta", pairs("auth-token", op.Token, "since", "1e3")), bad, wrongArg, "since"},
		{"operator: history of an unknown chat", vget("/l/o/history", pairs("auth-token", op.Token, "chat-id", "12345")), http.StatusNotFound, "chat-not-found", ""},
		{"method not allowed", vget("/l/o/action", pairs("auth-token", op.Token)), http.StatusMethodNotAllowed, "method-not-allowed", ""},
		{"no such endpoint", vget("/l/v/m/upload", nil), http.StatusNotFound, "not-found", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkBad(t, tc.do(), tc) })
	}

	t.Run("websocket", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			q          url.Values
			status     int
			code       string
		}{
			{"operator without token", "/ws/o/delta", nil, http.StatusUnauthorized, noAuth},
			{"operator with a bad token", "/ws/o/delta", pairs("auth-token", "bad.1.x"), http.StatusUnauthorized, noAuth},
			{"visitor with a wrong token", "/ws/v/delta", wrongToken, http.StatusUnauthorized, reinit},
			{"visitor A's page with B's token", "/ws/v/delta", aWithB, http.StatusUnauthorized, reinit},
			{"visitor since malformed", "/ws/v/delta", a.auth("since", "x"), bad, wrongArg},
		} {
			s, ans, err := n.dialSocket(t, tc.path, tc.q)
			if err == nil {
				s.close()
				t.Errorf("%s: the socket opened", tc.name)
				continue
			}
			if ans.Status != tc.status || ans.errorCode() != tc.code {
				t.Errorf("%s: handshake answered %s, want %d %s", tc.name, ans, tc.status, tc.code)
			}
		}
	})

	// Nothing changed: after one good message, each stream holds exactly
	// that message since the revision taken before the bad requests.
	sentinel := strings.Repeat("é", 19) + "✓" // exactly the 20 characters allowed
	a.mustAct(t, "chat.message", "message", sentinel, "client-side-id", "sentinel")
	if u := a.poll(t, a.Rev); len(u.DeltaList) != 1 || !messageText(sentinel)(u.DeltaList[0]) {
		t.Errorf("visitor A's stream after the bad requests: %+v", u)
	}
	if u := op.poll(t, opRev); len(u.DeltaList) != 1 || !messageText(sentinel)(u.DeltaList[0]) {
		t.Errorf("operator's stream after the bad requests: %+v", u)
	}
	if u := b.poll(t, b.Rev); !u.empty() {
		t.Errorf("visitor B's stream after the bad requests: %+v", u)
	}
	if f := c.full(t); f.Chat != nil || f.State != "idle" {
		t.Errorf("visitor C after the bad requests: %+v", f)
	}
	if f := a.full(t); f.Chat == nil || !slices.Equal(f.Chat.texts(""), []string{"bad input", "Alice joined the chat", sentinel}) {
		t.Errorf("visitor A's chat after the bad requests: %+v", f.Chat)
	}
	f, _ := op.full(t)
	if f.Status != "online" || len(f.Chats) != 2 || len(f.Queue) != 0 {
		t.Errorf("operator after the bad requests: status %s, %d chats, queue %+v", f.Status, len(f.Chats), f.Queue)
	}
	if c := f.chat(chatA); c == nil || c.Operator == nil || c.Operator.ID != 1 || c.State != "chatting" {
		t.Errorf("chat A after the bad requests: %+v", c)
	}
}

func checkBad(t *testing.T, got answer, want badCase) {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(got.Body, &e); err != nil {
		t.Fatalf("answer %s is not JSON: %v", got, err)
	}
	if got.Status != want.status || e.Error != want.code {
		t.Fatalf("answer %s, want %d {\"error\":%q}", got, want.status, want.code)
	}
	if want.arg != "" && e.ArgumentName != want.arg {
		t.Errorf("argumentName %q, want %q (%s)", e.ArgumentName, want.arg, got)
	}
	if !strings.HasPrefix(got.ContentType, "application/json") {
		t.Errorf("Content-Type %q", got.ContentType)
	}
}
