package actors

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/config"
)

// accountBook is the read-only index of the accounts file. It never changes
// after New, so every actor may read it.
type accountBook struct {
	ops    map[string]*config.Operator
	logins map[string]*config.Operator
	depts  map[string]*config.Department
	order  []config.Department
}

func newAccountBook(a *config.Accounts) *accountBook {
	b := &accountBook{ops: map[string]*config.Operator{}, logins: map[string]*config.Operator{}, depts: map[string]*config.Department{}, order: a.Departments}
	for i := range a.Operators {
		op := &a.Operators[i]
		b.ops[op.ID], b.logins[op.Login] = op, op
	}
	for i := range a.Departments {
		b.depts[a.Departments[i].Key] = &a.Departments[i]
	}
	return b
}

func (b *accountBook) operator(id string) *config.Operator      { return b.ops[id] }
func (b *accountBook) byLogin(login string) *config.Operator    { return b.logins[login] }
func (b *accountBook) department(key string) *config.Department { return b.depts[key] }

// name is an operator's display name, or the id when unknown.
func (b *accountBook) name(id string) string {
	if op := b.ops[id]; op != nil {
		return op.Name
	}
	return id
}

// dummyHash is compared against when a login is unknown (bcrypt of a random
// string), so that unknown and known logins take the same time.
const dummyHash = "$2a$10$CwTycUXWue0Thq9StjUM0uJ8b8fQ9Zb5O5nQ0Zt3bqk3Kq6x1dV9a"

// presence is what visitors see of operator availability: per department
// (and "" for any) whether an operator is online and whether one has room.
// The assigner publishes it; any goroutine may read it.
type presence struct {
	v atomic.Pointer[map[string]string]
}

func (p *presence) update(b *board) {
	m := map[string]string{}
	set := func(dept string, online, room bool) {
		cur := m[dept]
		switch {
		case online && room:
			m[dept] = "online"
		case online && cur != "online":
			m[dept] = "busy_online"
		}
	}
	for _, op := range b.all {
		if op.status != chatnode.StatusOnline {
			continue
		}
		room := op.load < op.max
		set("", true, room)
		for d := range op.depts {
			set(d, true, room)
		}
	}
	p.v.Store(&m)
}

// status is Webim's onlineStatus for a department ("" = any).
func (p *presence) status(dept string) string {
	if m := p.v.Load(); m != nil {
		if s, ok := (*m)[dept]; ok {
			return s
		}
	}
	return "offline"
}

func (h *Hub) departmentsJSON() []wireDepartment {
	out := make([]wireDepartment, 0, len(h.accounts.order))
	for i, d := range h.accounts.order {
		out = append(out, wireDepartment{Key: d.Key, Name: d.Name, Online: h.presence.status(d.Key), Order: i + 1})
	}
	return out
}

// Operator tokens are "<base64 operator id>.<expiry unix>.<base64 hmac>":
// any node holding the same auth secret verifies them without a lookup.

func (h *Hub) signToken(opID string) string {
	body := base64.RawURLEncoding.EncodeToString([]byte(opID)) + "." + strconv.FormatInt(h.now().Add(h.opts.TokenTTL).Unix(), 10)
	mac := hmac.New(sha256.New, h.opts.AuthSecret)
	mac.Write([]byte(body))
	return body + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (h *Hub) verifyToken(token string) (string, error) {
	bad := chatnode.Errorf(chatnode.EUnauthorized, "missing or invalid operator token")
	i := strings.LastIndexByte(token, '.')
	if i < 0 {
		return "", bad
	}
	mac := hmac.New(sha256.New, h.opts.AuthSecret)
	mac.Write([]byte(token[:i]))
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || !hmac.Equal(sig, mac.Sum(nil)) {
		return "", bad
	}
	idPart, expPart, ok := strings.Cut(token[:i], ".")
	exp, err := strconv.ParseInt(expPart, 10, 64)
	if !ok || err != nil || h.now().Unix() > exp {
		return "", bad
	}
	id, err := base64.RawURLEncoding.DecodeString(idPart)
	if err != nil || h.accounts.operator(string(id)) == nil {
		return "", bad
	}
	return string(id), nil
}

// History cursors are "<unix micros>:<message id>", or bare microseconds
// (Webim's before-ts): everything older than that time.

func formatCursor(t time.Time, id string) string {
	return strconv.FormatInt(t.UnixMicro(), 10) + ":" + id
}

func parseCursor(s string) (time.Time, string, error) {
	if s == "" {
		return time.Time{}, "", nil
	}
	ts, id, _ := strings.Cut(s, ":")
	us, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || us <= 0 {
		return time.Time{}, "", chatnode.Errorf(chatnode.EWrongArgument, "before is not a history cursor")
	}
	return time.UnixMicro(us).UTC(), id, nil
}

// chatsDirectory is the chats' directory with an index of each visitor's
// open chat, so that a visitor actor restored from the store finds it.
func newChatsDirectory(h *Hub) actor.Actor {
	d := newDirectory(kindChat, h.liveChats, func(id string) *actor.Props {
		incarnation := 0
		return h.props(kindChat, func() actor.Actor {
			// The producer runs again when the supervisor restarts the
			// actor after a panic: that incarnation reloads the chat.
			incarnation++
			c := newChatActor(h, id)
			c.restarted = incarnation > 1
			return c
		})
	})
	if h.clustered() {
		d.owner = h.chatOwner
		d.bridge = func() *actor.PID { return h.bridge }
	}
	open := map[string]string{} // visitor id → open chat id
	d.hook = func(ctx actor.Context, msg any) bool {
		switch m := msg.(type) {
		case *chatCreate:
			open[m.chat.VisitorId] = m.chat.Id
		case *chatRecover:
			if chatnode.ChatOpen(m.chat.State) {
				open[m.chat.VisitorId] = m.chat.Id
			}
		case *chatClosedNote:
			if open[m.visitorID] == m.chatID {
				delete(open, m.visitorID)
			}
			return true
		case *chatIndexNote:
			if m.open {
				open[m.visitorID] = m.chatID
			} else if open[m.visitorID] == m.chatID {
				delete(open, m.visitorID)
			}
			return true
		case *findVisitorChat:
			id, ok := open[m.visitorID]
			if ok {
				ctx.Send(ctx.Self(), &route{id: id, msg: &attachReplica{side: chatnode.SideVisitor, id: m.visitorID}})
			}
			ctx.Respond(&foundChat{chatID: id})
			return true
		}
		return false
	}
	return d
}
