package store_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatnode/chatnode/store"
)

// Message write throughput, reported as msgs/s:
//
//	go test ./store -run '^$' -bench 'Each|Writer' -benchtime 2000x
//	go test ./store -run '^$' -bench ApplyBatch -benchtime 100000x
//
// ApplyEach commits every message alone (one transaction and fsync each);
// ApplyBatch commits them 4,096 at a time, spread over 500 chats (about 8
// a chat), as the journal's applier does at 16,000 messages a second;
// WriterN has N submitters each waiting for its message to be durable
// before sending the next, as N requests in flight would.

func BenchmarkSQLiteApplyEach(b *testing.B)    { benchApplyEach(b, mustOpenSQLite(b)) }
func BenchmarkPostgresApplyEach(b *testing.B)  { benchApplyEach(b, mustOpenPostgres(b)) }
func BenchmarkSQLiteApplyBatch(b *testing.B)   { benchApplyBatch(b, mustOpenSQLite(b)) }
func BenchmarkPostgresApplyBatch(b *testing.B) { benchApplyBatch(b, mustOpenPostgres(b)) }
func BenchmarkSQLiteWriter64(b *testing.B)     { benchWriter(b, mustOpenSQLite(b), 64) }
func BenchmarkPostgresWriter64(b *testing.B)   { benchWriter(b, mustOpenPostgres(b), 64) }
func BenchmarkSQLiteWriter256(b *testing.B)    { benchWriter(b, mustOpenSQLite(b), 256) }
func BenchmarkPostgresWriter256(b *testing.B)  { benchWriter(b, mustOpenPostgres(b), 256) }

func benchMessage(chatID string, seq int64) *store.Message {
	return &store.Message{
		ID: fmt.Sprintf("%s-%d", chatID, seq), ChatID: chatID, Seq: seq, Kind: store.MessageVisitor,
		AuthorID: "visitor-1", AuthorName: "Visitor", Text: "Hello, I have a question about my order #12345.",
		ClientSideID: fmt.Sprintf("c-%s-%d", chatID, seq), CreatedAt: time.Now(),
	}
}

func benchApplyEach(b *testing.B, s store.Store) {
	ctx := b.Context()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Apply(ctx, []store.Change{{Message: benchMessage("bench", int64(i+1))}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func benchApplyBatch(b *testing.B, s store.Store) {
	const batch, chats = 4096, 500
	ctx := b.Context()
	changes := make([]store.Change, 0, batch)
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		changes = changes[:0]
		for j := i; j < min(i+batch, b.N); j++ {
			changes = append(changes, store.Change{Message: benchMessage(fmt.Sprint("bench", j%chats), int64(j/chats+1))})
		}
		if err := s.Apply(ctx, changes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func benchWriter(b *testing.B, s store.Store, submitters int) {
	var batches atomic.Int64
	w := store.NewWriter(s, store.WriterOptions{OnBatch: func(int, time.Duration) { batches.Add(1) }})
	defer w.Close()
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for g := range submitters {
		wg.Go(func() {
			chatID := fmt.Sprint("bench", g)
			done := make(chan error, 1)
			for seq := int64(1); next.Add(1) <= int64(b.N); seq++ {
				w.Submit([]store.Change{{Message: benchMessage(chatID, seq)}}, func(err error) { done <- err })
				if err := <-done; err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	if n := batches.Load(); n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "msgs/commit")
	}
}
