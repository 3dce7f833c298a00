package node

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/chatnode/chatnode/mq"
)

func TestTakeBatchKeepsOrderAcrossKeys(t *testing.T) {
	in := make(chan outbound, 16)
	for i, key := range []string{"all", "all", "node.b", "all", "all"} {
		in <- outbound{key: key, id: fmt.Sprint("e", i+1), body: []byte{byte(i + 1)}}
	}
	first := outbound{key: "all", id: "e0", body: []byte{0}}
	var got [][]string
	for {
		batch, next := takeBatch(nil, first, in)
		var ids []string
		for _, m := range batch {
			ids = append(ids, m.id)
		}
		got = append(got, ids)
		if next == nil {
			break
		}
		first = *next
	}
	want := [][]string{{"e0", "e1", "e2"}, {"e3"}, {"e4", "e5"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("batches %v, want %v", got, want)
	}
}

func TestTakeBatchStopsAtItsBounds(t *testing.T) {
	in := make(chan outbound, maxBatchItems+8)
	for i := range maxBatchItems + 8 {
		in <- outbound{key: "all", id: fmt.Sprint(i), body: []byte("x")}
	}
	batch, next := takeBatch(nil, outbound{key: "all", id: "first"}, in)
	if len(batch) != maxBatchItems || next != nil || len(in) != 9 {
		t.Fatalf("batch of %d, next %v, %d left; want %d, nil, 9", len(batch), next, len(in), maxBatchItems)
	}
	in = make(chan outbound, 4)
	big := make([]byte, maxBatchBytes/2+1)
	in <- outbound{key: "all", id: "2", body: big}
	in <- outbound{key: "all", id: "3", body: big}
	if batch, _ := takeBatch(nil, outbound{key: "all", id: "1", body: big}, in); len(batch) != 2 {
		t.Fatalf("batch of %d over %d bytes, want it cut at 2", len(batch), maxBatchBytes)
	}
}

func TestBatchUnpacksWithEachEnvelopesHeaders(t *testing.T) {
	batch := []outbound{
		{key: "all", id: "a", headers: map[string]string{"traceparent": "00-aa-01"}, body: []byte("first")},
		{key: "all", id: "b", body: []byte("second")},
		{key: "all", id: "c", headers: map[string]string{"traceparent": "00-cc-01"}, body: []byte("third")},
	}
	m := packBatch(batch)
	if m.id != "c" || m.key != "all" {
		t.Fatalf("batch message id %q key %q, want the last envelope's id c and key all", m.id, m.key)
	}
	type item struct {
		body    string
		headers map[string]string
	}
	var got []item
	err := unpack(mq.Delivery{EventID: m.id, Headers: m.headers, Body: m.body}, func(body []byte, h map[string]string) error {
		got = append(got, item{string(body), h})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []item{{"first", map[string]string{"traceparent": "00-aa-01"}}, {"second", nil}, {"third", map[string]string{"traceparent": "00-cc-01"}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("unpacked %+v, want %+v", got, want)
	}
	// A single envelope travels as it is.
	got = nil
	if err := unpack(mq.Delivery{EventID: "x", Headers: map[string]string{"traceparent": "t"}, Body: []byte("alone")}, func(body []byte, h map[string]string) error {
		got = append(got, item{string(body), h})
		return nil
	}); err != nil || len(got) != 1 || got[0].body != "alone" || got[0].headers["traceparent"] != "t" {
		t.Fatalf("single delivery unpacked as %+v, %v", got, err)
	}
	if err := unpack(mq.Delivery{EventID: "bad", Headers: map[string]string{batchHeader: "1"}, Body: []byte{0xff}}, func([]byte, map[string]string) error { return nil }); err == nil {
		t.Fatal("an undecodable batch was accepted")
	}
}
