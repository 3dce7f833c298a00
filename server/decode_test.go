package server

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	gotoken "go/token"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chatnode/chatnode"
)

// getter returns a params over a query string, as the server would see it.
func getter(query string) params {
	v, _ := url.ParseQuery(query)
	return func(key string) ([]byte, bool) {
		vs, ok := v[key]
		if !ok {
			return nil, false
		}
		return []byte(vs[0]), true
	}
}

// wantDecoded checks a decoder's result: a request, or a *chatnode.Error
// whose code is in the error table.
func wantDecoded(t *testing.T, ok bool, err error, strs ...string) {
	t.Helper()
	if err != nil {
		var e *chatnode.Error
		if !errors.As(err, &e) || e != err {
			t.Fatalf("error %T %v is not a *chatnode.Error", err, err)
		}
		if _, known := errorTable[e.Code]; !known {
			t.Fatalf("code %q not in the error table", e.Code)
		}
		return
	}
	if !ok {
		t.Fatal("neither a request nor an error")
	}
	for _, s := range strs {
		if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
			t.Fatalf("decoded value %q is not clean UTF-8", s)
		}
	}
}

func FuzzDecodeVisitorAction(f *testing.F) {
	for _, s := range []string{
		"page-id=p&auth-token=t&action=chat.start&force-online=1&client-side-id=abc&department-key=sales&first-question=hi",
		"page-id=p&auth-token=t&action=chat.message&message=Hello%2C%20world&client-side-id=5f0d",
		"page-id=p&auth-token=t&action=chat.message&message=x&client-side-id=c&quote=%7B%22ref%22%3A%7B%22msgId%22%3A%221%22%7D%7D",
		"page-id=p&auth-token=t&action=chat.visitor_typing&typing=1&del-message-draft=0&message-draft=Hel",
		"page-id=p&auth-token=t&action=chat.read_by_visitor&message_id=m1",
		"page-id=p&auth-token=t&action=chat.close",
		"page-id=p&auth-token=t&action=chat.operator_rate_select&rate=-2&operator_id=7&visitor_note=ok",
		"page-id=p&auth-token=t&action=widget.update&data=%7B%7D",
		"page-id=%ff&auth-token=t&action=chat.close",
		"action=chat.close",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		req, err := decodeVisitorAction(getter(q))
		if err == nil && req == nil {
			t.Fatal("nil request")
		}
		if req != nil {
			if req.Rate < chatnode.MinRate || req.Rate > chatnode.MaxRate {
				t.Fatalf("rate %d", req.Rate)
			}
			wantDecoded(t, true, err, req.Auth.PageID, req.Auth.AuthToken, req.Action, req.ClientSideID,
				req.DepartmentKey, req.FirstQuestion, req.Message, req.Draft, req.OperatorID)
			return
		}
		wantDecoded(t, false, err)
	})
}

func FuzzDecodeOperatorAction(f *testing.F) {
	for _, s := range []string{
		"auth-token=t&action=chat.take&chat-id=42",
		"auth-token=t&action=chat.message&chat-id=42&message=How%20can%20I%20help%3F&client-side-id=o1",
		"auth-token=t&action=chat.close&chat-id=42",
		"auth-token=t&action=chat.transfer&chat-id=42&operator-id=9",
		"auth-token=t&action=chat.transfer&chat-id=42&department-key=sales",
		"auth-token=t&action=chat.operator_typing&chat-id=42&typing=true&message-draft=Let",
		"auth-token=t&action=chat.read_by_operator&chat-id=42",
		"auth-token=t&action=chat.take",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		req, err := decodeOperatorAction(getter(q))
		if err == nil && req == nil {
			t.Fatal("nil request")
		}
		if req != nil {
			if req.ChatID == "" || req.Token == "" {
				t.Fatalf("request without chat or token: %+v", req)
			}
			if req.Action == "chat.transfer" && (req.ToOperatorID == "") == (req.ToDepartmentKey == "") {
				t.Fatalf("transfer to %q and %q", req.ToOperatorID, req.ToDepartmentKey)
			}
			wantDecoded(t, true, err, req.Token, req.Action, req.ChatID, req.ClientSideID, req.Message,
				req.Draft, req.ToOperatorID, req.ToDepartmentKey)
			return
		}
		wantDecoded(t, false, err)
	})
}

func FuzzDecodeInit(f *testing.F) {
	f.Add(iosInit)
	f.Add("event=init&since=0&device-id=d&platform=android&location=mobile&title=App&respond-immediately=true&visitor-ext=%7B%22name%22%3A%22A%22%7D")
	f.Add("visitor=%7B%22id%22%3A1")
	f.Add("title=%ff")
	f.Fuzz(func(t *testing.T, q string) {
		req, err := decodeInit(getter(q))
		if err == nil && req == nil {
			t.Fatal("nil request")
		}
		if req != nil {
			if req.Visitor != nil && !json.Valid(req.Visitor) {
				t.Fatalf("visitor %q", req.Visitor)
			}
			wantDecoded(t, true, err, req.VisitSessionID, req.DeviceID, req.Platform, req.Location, req.Title, string(req.Visitor))
			return
		}
		wantDecoded(t, false, err)
	})
}

func FuzzDecodeQueries(f *testing.F) {
	f.Add("page-id=p&auth-token=t&since=12&ts=794000000000")
	f.Add("page-id=p&auth-token=t&before-ts=1700000000000000")
	f.Add("auth-token=t&chat-id=1&before=c&limit=10")
	f.Add("auth-token=t&status=online")
	f.Add("login=alice&password=secret")
	f.Fuzz(func(t *testing.T, q string) {
		get := getter(q)
		since, err := decodeSince(get)
		if err == nil && since < 0 {
			t.Fatalf("since %d", since)
		}
		wantDecoded(t, true, err)
		_, hq, err := decodeVisitorHistory(get)
		if err == nil && (hq.Limit < 1 || hq.Limit > maxHistoryLimit) {
			t.Fatalf("limit %d", hq.Limit)
		}
		wantDecoded(t, true, err, hq.Before)
		_, status, err := decodeSetStatus(get)
		if err == nil && !chatnode.ValidStatus(status) {
			t.Fatalf("status %q", status)
		}
		wantDecoded(t, true, err)
		tok, chatID, _, err := decodeOperatorHistory(get)
		wantDecoded(t, true, err, tok, chatID)
		login, password, err := decodeLogin(get)
		wantDecoded(t, true, err, login, password)
	})
}

// TestErrorTableCoversEveryCode reads the error codes declared in the root
// package and checks that the table maps each one, with a close code in the
// application range.
func TestErrorTableCoversEveryCode(t *testing.T) {
	file, err := parser.ParseFile(gotoken.NewFileSet(), "../error.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, decl := range file.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != gotoken.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || !strings.HasPrefix(name.Name, "E") {
					continue
				}
				code, _ := strconv.Unquote(lit.Value)
				n++
				if _, ok := errorTable[code]; !ok {
					t.Errorf("%s (%q) is not in the error table", name.Name, code)
				}
			}
		}
	}
	if n < 20 {
		t.Fatalf("found only %d codes in error.go", n)
	}
	for code, spec := range errorTable {
		if spec.Close < 4000 || spec.Close > 4999 {
			t.Errorf("%s: close code %d", code, spec.Close)
		}
		if spec.Status < 200 || spec.Status > 599 {
			t.Errorf("%s: status %d", code, spec.Status)
		}
	}
}

func TestArgumentOf(t *testing.T) {
	if got := argumentOf(argError("client-side-id", "missing")); got != "client-side-id" {
		t.Fatal(got)
	}
	if got := argumentOf(&chatnode.Error{Code: chatnode.EWrongArgument, Message: "Some: sentence"}); got != "" {
		t.Fatal(got)
	}
}

func TestRouteName(t *testing.T) {
	for path, want := range map[string]string{
		"/l/v/m/action": "/l/v/m/action",
		"/ws/o/delta":   "/ws/o/delta",
		"/metrics":      "/metrics",
		"/l/v/m/nope":   "other",
		"":              "other",
	} {
		if got := routeName([]byte(path)); got != want {
			t.Errorf("routeName(%q) = %q, want %q", path, got, want)
		}
	}
	// The name is kept, as metrics and spans keep it.
	path := []byte("/l/v/m/action")
	if n := testing.AllocsPerRun(100, func() { routeSink = routeName(path) }); n != 0 {
		t.Errorf("routeName allocates %v times a call, want 0", n)
	}
}

var routeSink string
