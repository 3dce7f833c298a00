package actors

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/chatnode/chatnode/messages"
)

// TestSnapshotOfCopiesEveryField sets every field of a chat, so that a
// field added to messages.Chat and not to snapshotOf fails here.
func TestSnapshotOfCopiesEveryField(t *testing.T) {
	c := &messages.Chat{}
	r := c.ProtoReflect()
	fields := r.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if f.IsList() {
			if f.Message() == nil || f.Message().FullName() != "chatnode.messages.Message" {
				t.Fatalf("field %s: a list snapshotOf does not know", f.Name())
			}
			continue
		}
		var v protoreflect.Value
		switch f.Kind() {
		case protoreflect.StringKind:
			v = protoreflect.ValueOfString("s-" + string(f.Name()))
		case protoreflect.BoolKind:
			v = protoreflect.ValueOfBool(true)
		case protoreflect.Int32Kind:
			v = protoreflect.ValueOfInt32(int32(f.Number()))
		case protoreflect.Int64Kind:
			v = protoreflect.ValueOfInt64(int64(f.Number()) << 40)
		case protoreflect.Uint64Kind:
			v = protoreflect.ValueOfUint64(uint64(f.Number()) << 50)
		default:
			t.Fatalf("field %s: kind %s snapshotOf does not know", f.Name(), f.Kind())
		}
		r.Set(f, v)
	}
	m1 := &messages.Message{Id: "m1", Text: "one", Seq: 1}
	m2 := &messages.Message{Id: "m2", Text: "two", Seq: 2}
	c.Messages = append(make([]*messages.Message, 0, 8), m1, m2)

	snap := snapshotOf(c)
	if !proto.Equal(snap, c) {
		t.Fatalf("snapshot differs:\n got %v\nwant %v", snap, c)
	}
	// The replica's list is its own: what either side appends stays there.
	snap.Messages = append(snap.Messages, &messages.Message{Id: "replica"})
	c.Messages = append(c.Messages, &messages.Message{Id: "owner"})
	if snap.Messages[2].Id != "replica" || c.Messages[2].Id != "owner" {
		t.Errorf("the lists share an array: snapshot %v, chat %v", snap.Messages, c.Messages)
	}
	if snap.Messages[0] != m1 || snap.Messages[1] != m2 {
		t.Error("the messages were copied, not shared")
	}
	if snapshotOf(&messages.Chat{}).Messages != nil {
		t.Error("a chat without messages got an empty list")
	}
}
