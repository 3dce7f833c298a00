package server

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
)

// BenchmarkIdleOperatorSocket opens idle operator WebSockets and reports
// the memory each costs the process (heap and stacks, after a GC). The
// clients are bare TCP connections with no goroutine of their own, so the
// figure is the server's share plus a few hundred bytes of client socket.
//
//	go test -run '^$' -bench IdleOperatorSocket -benchtime 2000x ./server/
func BenchmarkIdleOperatorSocket(b *testing.B) {
	ts := mustRunServer(b, Options{})
	n := b.N
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	beforeHeap, beforeStack := memInUse()
	b.ResetTimer()
	for range n {
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		_, err = c.Write([]byte("GET /ws/o/delta?auth-token=" + testOperator + "&since=5 HTTP/1.1\r\nHost: x\r\n" +
			"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"))
		if err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReaderSize(c, 512), nil)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.StopTimer()
	checkFor(b, 10*time.Second, 10*time.Millisecond, func() error {
		if got := ts.Stats().WSOperator; got != int64(n) {
			return errorf("%d of %d sockets open", got, n)
		}
		return nil
	})
	heap, stack := memInUse()
	if path := os.Getenv("CHATNODE_HEAP_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		_ = pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
	b.ReportMetric(float64(heap-beforeHeap+stack-beforeStack)/float64(n), "bytes/socket")
	b.ReportMetric(float64(stack-beforeStack)/float64(n), "stack-bytes/socket")
}

func memInUse() (heap, stack int64) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse), int64(m.StackInuse)
}
