package loadgen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
)

// Frames as the node sends them.
var sampleFrames = []string{
	`{"revision":1795703252287970,"deltaList":[{"objectType":"CHAT","event":"upd","id":"7355","data":{"id":7355,"clientSideId":"s1","state":"queue","operator":null,"messages":[],"creationTs":1795703252.307748}},{"objectType":"VISIT_SESSION_STATE","event":"upd","id":"1f1a","data":"chat"},{"objectType":"CHAT_STATE","event":"upd","id":"7355","data":"chatting"},{"objectType":"CHAT_OPERATOR","event":"upd","id":"7355","data":{"id":1,"fullname":"Alice"}},{"objectType":"CHAT_MESSAGE","event":"add","id":"7355-1","data":{"id":"7355-1","clientSideId":"7355-1","chatId":"7355","name":"","text":"Alice joined the chat","kind":"info","ts":1795703252.308702,"ts_m":1795703252308702,"read":true,"canBeEdited":false}}]}`,
	`{"revision":1795703247472773,"fullUpdate":{"operator":{"id":1,"login":"alice"},"status":"online","chats":[{"id":7355,"clientSideId":"s1","state":"chatting","operator":{"id":1,"fullname":"Alice"},"messages":[{"id":"7355-1","clientSideId":"7355-1","chatId":"7355","text":"Alice joined","kind":"info"},{"id":"7355-2","clientSideId":"clab-1","chatId":"7355","name":"Visitor","text":"he said \"kind\":\"operator\" \\","kind":"visitor","ts":1.5}]}],"queue":[]}}`,
	`{"revision":"42","deltaList":[{"objectType":"CHAT_MESSAGE","event":"add","id":"9-3","data":{"kind":"visitor","text":"{[\"]}","chatId":"9","clientSideId":"clab-7"}},{"objectType":"CHAT_MESSAGE","event":"add","id":"9-4","data":{"clientSideId":"clab-r2","chatId":"9","kind":"operator","authorId":2}}]}`,
	`{}`,
	`{"error":"reinit-required"}`,
}

type found struct {
	csid, kind, chatID string
	depth              int
}

func scanned(data []byte) ([]found, int64) {
	var out []found
	rev := scanFrame(data, func(m scannedMessage) {
		f := found{csid: unescape(m.clientSideID), kind: unescape(m.kind), depth: m.depth}
		if m.chatID != nil {
			f.chatID = unescape(m.chatID)
		}
		out = append(out, f)
	})
	return out, rev
}

func unescape(raw []byte) string {
	var s string
	if err := json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s); err != nil {
		return "!" + string(raw)
	}
	return s
}

// reference finds the same with encoding/json's tokenizer: it validates
// the input and handles escapes, and, like scanFrame, takes the last value
// of a key repeated in an object.
func reference(data []byte) ([]found, int64, bool) {
	if !json.Valid(data) {
		return nil, 0, false
	}
	type level struct {
		object, wantKey bool
		key             string
		csid, kind      *string
		chatID          *string
		depth           int
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var stack []*level
	var out []found
	var rev int64
	value := func(v *string, raw any) { // records a value of the innermost object
		if len(stack) == 0 || !stack[len(stack)-1].object {
			return
		}
		top := stack[len(stack)-1]
		switch top.key {
		case "clientSideId":
			top.csid = v
		case "kind":
			top.kind = v
		case "chatId":
			top.chatID = v
		}
		if len(stack) == 1 && top.key == "revision" {
			switch r := raw.(type) {
			case json.Number:
				rev, _ = r.Int64()
			case string:
				rev, _ = strconv.ParseInt(r, 10, 64)
			}
		}
		top.wantKey = true
	}
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				value(nil, nil)
				stack = append(stack, &level{object: t == '{', wantKey: t == '{', depth: len(stack)})
			default:
				top := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				if top.object && top.csid != nil && top.kind != nil {
					f := found{csid: *top.csid, kind: *top.kind, depth: top.depth}
					if top.chatID != nil {
						f.chatID = *top.chatID
					}
					out = append(out, f)
				}
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].wantKey = true
				}
			}
		case string:
			if len(stack) > 0 && stack[len(stack)-1].object && stack[len(stack)-1].wantKey {
				stack[len(stack)-1].key = t
				stack[len(stack)-1].wantKey = false
				continue
			}
			value(&t, t)
		default:
			value(nil, t)
		}
	}
	return out, rev, true
}

func sortFound(f []found) {
	slices.SortFunc(f, func(a, b found) int {
		return cmpStrings(fmt.Sprint(a), fmt.Sprint(b))
	})
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestScanFrameSamples(t *testing.T) {
	got, rev := scanned([]byte(sampleFrames[1]))
	want := []found{{"7355-1", "info", "7355", 5}, {"clab-1", "visitor", "7355", 5}}
	if !slices.Equal(got, want) || rev != 1795703247472773 {
		t.Fatalf("full update: %v rev %d", got, rev)
	}
	got, rev = scanned([]byte(sampleFrames[2]))
	want = []found{{"clab-7", "visitor", "9", itemDataDepth}, {"clab-r2", "operator", "9", itemDataDepth}}
	if !slices.Equal(got, want) || rev != 42 {
		t.Fatalf("adds: %v rev %d", got, rev)
	}
}

func FuzzScanFrame(f *testing.F) {
	for _, s := range sampleFrames {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"a":{"clientSideId":"x","kind":"visitor","kind":5}}`))
	f.Add([]byte(`{"clientSideId":"x\\","kind":"y"}`))
	f.Add([]byte(`[{"clientSideId":"x","kind":"k"}]`))
	f.Add([]byte(`{"revision":-3,"x":[1,2,{"kind":"a","clientSideId":"b","chatId":7}]}`))
	f.Add([]byte(`{"":[{"":[{"clientSideId":"","kind":""}]}],"":[] }`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, rev := scanned(data) // must not panic on anything
		want, wantRev, ok := reference(data)
		if !ok {
			return
		}
		sortFound(got)
		sortFound(want)
		if !slices.Equal(got, want) {
			t.Fatalf("scan %v\nwant %v", got, want)
		}
		if wantRev > 0 && rev != wantRev {
			t.Fatalf("revision %d, want %d", rev, wantRev)
		}
	})
}
