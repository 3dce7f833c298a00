package actors

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"golang.org/x/crypto/bcrypt"

	"github.com/chatnode/chatnode"
	"github.com/chatnode/chatnode/store"
)

// visitorID returns the visit session id a page id belongs to: page ids are
// "<visit session id>-<random>".
func visitorID(pageID string) (string, error) {
	i := strings.LastIndexByte(pageID, '-')
	if i <= 0 {
		return "", chatnode.Errorf(chatnode.EReinitRequired, "unknown page")
	}
	return pageID[:i], nil
}

// VisitorInit starts or resumes a visit session and returns its full state.
func (h *Hub) VisitorInit(ctx context.Context, req *InitRequest) (*Update, error) {
	if req.VisitSessionID != "" {
		res, err := h.ask(ctx, h.visitors, &route{id: req.VisitSessionID, msg: &visitorInit{req: req}, spawn: true}, h.opts.RequestTimeout)
		if err == nil {
			if d := res.(*visitorInitDone); d.err == nil {
				return d.update, nil
			} else if chatnode.ErrorCode(d.err) != chatnode.EReinitRequired {
				return nil, d.err
			}
		}
	}
	res, err := h.ask(ctx, h.visitors, &route{id: randomToken(16), msg: &visitorInit{req: req, create: true}, spawn: true}, h.opts.RequestTimeout)
	if err != nil {
		return nil, err
	}
	d := res.(*visitorInitDone)
	return d.update, d.err
}

// VisitorAction performs a visitor action; it returns once the change is
// durable and every replica has been told.
func (h *Hub) VisitorAction(ctx context.Context, req *VisitorRequest) error {
	id, err := visitorID(req.Auth.PageID)
	if err != nil {
		return err
	}
	if req.Action == ActMessage {
		if done, err := h.messageViaRoute(ctx, id, req); done {
			return err
		}
	}
	_, err = h.ask(ctx, h.visitors, &route{id: id, msg: &visitorCall{req: req}, spawn: true}, h.opts.RequestTimeout)
	return err
}

// VisitorDelta answers a long poll: at once when there is news after since,
// else after wait with an empty Update.
func (h *Hub) VisitorDelta(ctx context.Context, auth VisitorAuth, since int64, wait time.Duration) (*Update, error) {
	id, err := visitorID(auth.PageID)
	if err != nil {
		return nil, err
	}
	res, err := h.ask(ctx, h.visitors, &route{id: id, msg: &feedPoll{auth: auth, since: since, wait: wait}, spawn: true}, wait+h.opts.RequestTimeout)
	if err != nil {
		return nil, err
	}
	return res.(*Update), nil
}

// VisitorSubscribe attaches sink to the visitor's stream until cancel.
func (h *Hub) VisitorSubscribe(ctx context.Context, auth VisitorAuth, since int64, sink Sink) (func(), error) {
	id, err := visitorID(auth.PageID)
	if err != nil {
		return nil, err
	}
	return h.subscribe(ctx, h.visitors, id, &feedSubscribe{auth: auth, since: since, sink: sink})
}

// subscribe attaches a sink to the stream of dir's child id.
func (h *Hub) subscribe(ctx context.Context, dir *actor.PID, id string, msg *feedSubscribe) (func(), error) {
	res, err := h.ask(ctx, dir, &route{id: id, msg: msg, spawn: dir == h.visitors}, h.opts.RequestTimeout)
	if err != nil {
		return nil, err
	}
	sid := res.(*subscribed).id
	if sid == 0 {
		return func() {}, nil
	}
	return func() { h.tell(h.system.Root, dir, &route{id: id, msg: &unsubscribe{id: sid}}, nil) }, nil
}

// VisitorHistory pages the visitor's past messages, newest first. before is
// the cursor from the previous page ("" for the newest).
func (h *Hub) VisitorHistory(ctx context.Context, auth VisitorAuth, before string, limit int) (*HistoryPage, error) {
	id, err := visitorID(auth.PageID)
	if err != nil {
		return nil, err
	}
	if _, err := h.ask(ctx, h.visitors, &route{id: id, msg: &authCheck{auth: auth}, spawn: true}, h.opts.RequestTimeout); err != nil {
		return nil, err
	}
	if h.store == nil {
		return &HistoryPage{}, nil
	}
	t, cursorID, err := parseCursor(before)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.RequestTimeout)
	defer cancel()
	msgs, err := h.store.VisitorHistory(ctx, id, t, cursorID, clampLimit(limit))
	if err != nil {
		return nil, err
	}
	return historyPage(msgs, limit), nil
}

// clampLimit is a history page's size: 100 by default, at most 500.
func clampLimit(limit int) int {
	switch {
	case limit <= 0:
		return 100
	case limit > 500:
		return 500
	}
	return limit
}

func historyPage(msgs []store.Message, limit int) *HistoryPage {
	p := &HistoryPage{Messages: make([]json.RawMessage, 0, len(msgs))}
	for i := range msgs {
		p.Messages = append(p.Messages, mustJSON(messageJSON(messageFromStore(&msgs[i]), nil)))
	}
	if n := len(msgs); n > 0 && n == clampLimit(limit) {
		last := msgs[n-1]
		p.Next = formatCursor(last.CreatedAt, last.ID)
	}
	return p
}

// OperatorLogin checks a login and password and issues a token.
func (h *Hub) OperatorLogin(ctx context.Context, login, password string) (*LoginResult, error) {
	acct := h.accounts.byLogin(login)
	hash := []byte(dummyHash)
	if acct != nil {
		hash = []byte(acct.PasswordHash)
	}
	// Compare even for unknown logins, so timing does not tell which exist.
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || acct == nil {
		return nil, chatnode.Errorf(chatnode.EWrongCredentials, "wrong login or password")
	}
	res, err := h.ask(ctx, h.operators, &route{id: acct.ID, msg: &issueSession{}}, h.opts.RequestTimeout)
	if err != nil {
		return nil, err
	}
	return &LoginResult{Token: h.signToken(acct.ID), Operator: res.(json.RawMessage)}, nil
}

// OperatorSetStatus sets the operator's status.
func (h *Hub) OperatorSetStatus(ctx context.Context, token, status string) error {
	id, err := h.verifyToken(token)
	if err != nil {
		return err
	}
	_, err = h.ask(ctx, h.operators, &route{id: id, msg: &setStatus{status: status}}, h.opts.RequestTimeout)
	return err
}

// OperatorAction performs an operator action on a chat.
func (h *Hub) OperatorAction(ctx context.Context, req *OperatorRequest) error {
	id, err := h.verifyToken(req.Token)
	if err != nil {
		return err
	}
	switch req.Action {
	case ActTake, ActMessage, ActClose, ActTransfer, ActOperatorTyping, ActReadByOperator:
	default:
		return chatnode.Errorf(chatnode.EUnknownAction, "%q", req.Action)
	}
	if req.ChatID == "" {
		return chatnode.Errorf(chatnode.EWrongArgument, "chat-id is required")
	}
	_, err = h.ask(ctx, h.operators, &route{id: id, msg: &operatorCall{req: req}}, h.opts.RequestTimeout)
	return err
}

// OperatorDelta answers an operator's long poll.
func (h *Hub) OperatorDelta(ctx context.Context, token string, since int64, wait time.Duration) (*Update, error) {
	id, err := h.verifyToken(token)
	if err != nil {
		return nil, err
	}
	res, err := h.ask(ctx, h.operators, &route{id: id, msg: &feedPoll{since: since, wait: wait}}, wait+h.opts.RequestTimeout)
	if err != nil {
		return nil, err
	}
	return res.(*Update), nil
}

// OperatorSubscribe attaches sink to the operator's stream until cancel.
func (h *Hub) OperatorSubscribe(ctx context.Context, token string, since int64, sink Sink) (func(), error) {
	id, err := h.verifyToken(token)
	if err != nil {
		return nil, err
	}
	return h.subscribe(ctx, h.operators, id, &feedSubscribe{since: since, sink: sink})
}

// OperatorHistory pages the messages of one of the operator's chats (any
// state), oldest first after the cursor.
func (h *Hub) OperatorHistory(ctx context.Context, token, chatID, before string, limit int) (*HistoryPage, error) {
	id, err := h.verifyToken(token)
	if err != nil {
		return nil, err
	}
	if h.store == nil {
		return &HistoryPage{}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.RequestTimeout)
	defer cancel()
	c, err := h.store.Chat(ctx, chatID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, chatnode.Errorf(chatnode.EUnknownChat, "no chat %q", chatID)
		}
		return nil, err
	}
	if c.OperatorID != id {
		return nil, chatnode.Errorf(chatnode.EOperatorNotInChat, "chat %q is not yours", chatID)
	}
	var after int64
	if before != "" {
		if after, err = strconv.ParseInt(before, 10, 64); err != nil || after < 0 {
			return nil, chatnode.Errorf(chatnode.EWrongArgument, "before is not a cursor")
		}
	}
	msgs, err := h.store.Messages(ctx, chatID, after, clampLimit(limit))
	if err != nil {
		return nil, err
	}
	p := &HistoryPage{Messages: make([]json.RawMessage, 0, len(msgs))}
	for i := range msgs {
		p.Messages = append(p.Messages, mustJSON(messageJSON(messageFromStore(&msgs[i]), nil)))
	}
	if n := len(msgs); n > 0 && n == clampLimit(limit) {
		p.Next = strconv.FormatInt(msgs[n-1].Seq, 10)
	}
	return p, nil
}
