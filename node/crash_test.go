package node_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatnode/chatnode/internal/testutil"
)

// TestCrashKeepsAcknowledged kills a node with SIGKILL right after a burst
// of concurrent messages and restarts it on the same data directory: every
// acknowledged message is there once, in order, and the queue and the
// assignments are as they were.
func TestCrashKeepsAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds, runs and kills the chatnode binary")
	}
	bin := buildChatnode(t)
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	accounts := writeAccounts(t, dir, testOperator{ID: "1", Login: "alice", Departments: []string{"support", "sales"}, MaxChats: 1})
	ini := writeINI(t, dir, testKeys(dataDir), "accounts_file", accounts)

	p := startChatnode(t, bin, ini)
	n := newTestNode(p.addr, dataDir)
	v1, op, chat1 := openChat(t, n, "crash test")
	// alice is at max_chats: the second chat waits.
	v2 := n.newVisitor(t)
	v2.mustAct(t, "chat.start", "first-question", "still waiting")
	v2.waitDelta(t, "QUEUE_POSITION 1", itemData("QUEUE_POSITION", "upd", "1"))
	var chat2 string
	testutil.WaitFor(t, waitTimeout, func() error {
		f, _ := op.full(t)
		if len(f.Queue) != 1 {
			return fmt.Errorf("operator sees %d waiting chats, want 1", len(f.Queue))
		}
		chat2 = f.Queue[0].ChatID
		return nil
	})

	// Senders 0-3 are the visitor, 4-5 the operator; each sends in order
	// and keeps what was acknowledged.
	const visitorSenders, operatorSenders, perVisitor, perOperator = 4, 2, 50, 50
	send := func(sender int, text string) (answer, error) {
		if sender < visitorSenders {
			return n.request(http.MethodPost, "/l/v/m/action",
				v1.auth("action", "chat.message", "message", text, "client-side-id", text).Encode())
		}
		return n.request(http.MethodPost, "/l/o/action", pairs("auth-token", op.Token, "action", "chat.message",
			"chat-id", chat1, "message", text, "client-side-id", text).Encode())
	}
	acked := make([][]string, visitorSenders+operatorSenders+1)
	var wg sync.WaitGroup
	for s := range visitorSenders + operatorSenders {
		count := perVisitor
		if s >= visitorSenders {
			count = perOperator
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range count {
				text := fmt.Sprintf("s%d-m%03d", s, i)
				a, err := send(s, text)
				if err != nil || !a.ok() {
					t.Errorf("sender %d message %d: %v %s", s, i, err, a)
					return
				}
				acked[s] = append(acked[s], text)
			}
		}()
	}
	// One more visitor sender runs on until the kill: what it got
	// acknowledged must survive too; what was in flight may or may not.
	flooder := visitorSenders + operatorSenders
	stop := make(chan struct{})
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			text := fmt.Sprintf("s%d-m%05d", flooder, i)
			if a, err := send(0, text); err == nil && a.ok() {
				acked[flooder] = append(acked[flooder], text)
			}
		}
	}()
	wg.Wait()
	p.kill(t)
	close(stop)
	<-flooded
	if t.Failed() {
		t.FailNow()
	}
	total := 0
	for _, a := range acked {
		total += len(a)
	}
	t.Logf("%d messages acknowledged before SIGKILL (%d by the flooder)", total, len(acked[flooder]))

	p2 := startChatnode(t, bin, ini)
	n2 := newTestNode(p2.addr, dataDir)

	// The visitor resumes its session and finds every message.
	v1r := n2.initVisitor(t, v1.Session)
	if v1r.Session != v1.Session {
		t.Fatalf("resumed session %q, want %q", v1r.Session, v1.Session)
	}
	var chat wireChat
	testutil.WaitFor(t, waitTimeout, func() error {
		f := v1r.full(t)
		if f.Chat == nil || f.Chat.idString() != chat1 {
			return fmt.Errorf("resumed visitor's chat = %+v, want %s", f.Chat, chat1)
		}
		chat = *f.Chat
		return nil
	})
	if chat.State != "chatting" || chat.Operator == nil || chat.Operator.ID != 1 {
		t.Errorf("chat after restart: state %s, operator %+v; want chatting with 1", chat.State, chat.Operator)
	}
	checkAcknowledged(t, "visitor's fullUpdate", chat, acked)

	// The operator is still online, holds the chat and sees the waiting one.
	op2 := n2.login(t, "alice")
	testutil.WaitFor(t, waitTimeout, func() error {
		f, _ := op2.full(t)
		c := f.chat(chat1)
		switch {
		case f.Status != "online":
			return fmt.Errorf("operator status %q after restart", f.Status)
		case c == nil || c.State != "chatting" || len(c.Messages) != len(chat.Messages):
			return fmt.Errorf("operator's chats after restart: %d, chat %s: %+v", len(f.Chats), chat1, c)
		case len(f.Chats) != 1 || !f.queued(chat2) || len(f.Queue) != 1:
			return fmt.Errorf("operator holds %d chats and sees waiting %+v; want %s and %s", len(f.Chats), f.Queue, chat1, chat2)
		}
		checkAcknowledged(t, "operator's fullUpdate", *c, acked)
		return nil
	})

	// The waiting visitor still waits, first in line.
	v2r := n2.initVisitor(t, v2.Session)
	testutil.WaitFor(t, waitTimeout, func() error {
		f := v2r.full(t)
		if f.Chat == nil || f.Chat.idString() != chat2 || f.Chat.State != "queue" || f.Chat.QueuePosition != 1 {
			return fmt.Errorf("waiting visitor's chat after restart = %+v", f.Chat)
		}
		return nil
	})

	// Clients whose answers were lost resend messages acknowledged before
	// the kill, the flooder's last among them: each is answered again and
	// the chat still holds it once.
	resends := []string{acked[0][0]}
	if n := len(acked[flooder]); n > 0 {
		resends = append(resends, acked[flooder][n-1])
	}
	for _, text := range resends {
		v1r.mustAct(t, "chat.message", "message", text, "client-side-id", text)
	}
	op2.mustAct(t, "chat.message", chat1, "message", acked[visitorSenders][0], "client-side-id", acked[visitorSenders][0])

	// The chat goes on: new messages get new ids after the old ones.
	v1r.mustAct(t, "chat.message", "message", "after restart", "client-side-id", "after-restart")
	op2.mustAct(t, "chat.message", chat1, "message", "welcome back", "client-side-id", "welcome-back")
	f := v1r.full(t)
	ids := map[string]bool{}
	for _, m := range f.Chat.Messages {
		if ids[m.ID] {
			t.Errorf("message id %s used twice", m.ID)
		}
		ids[m.ID] = true
	}
	if got := f.Chat.texts(""); len(got) != len(chat.Messages)+2 || got[len(got)-2] != "after restart" || got[len(got)-1] != "welcome back" {
		t.Errorf("messages after restart end with %q", got[max(0, len(got)-3):])
	}
	checkAcknowledged(t, "visitor's fullUpdate after resends", *f.Chat, acked)
}

// checkAcknowledged checks that chat holds every acknowledged message once
// and each sender's messages in the order they were sent.
func checkAcknowledged(t *testing.T, where string, chat wireChat, acked [][]string) {
	t.Helper()
	at := map[string][]int{}
	for i, m := range chat.Messages {
		at[m.Text] = append(at[m.Text], i)
	}
	for text, idx := range at {
		if len(idx) > 1 {
			t.Errorf("%s: %q appears %d times", where, text, len(idx))
		}
	}
	for s, texts := range acked {
		last := -1
		for _, text := range texts {
			idx, ok := at[text]
			if !ok {
				t.Errorf("%s: acknowledged message %q of sender %d is lost", where, text, s)
				continue
			}
			if idx[0] < last {
				t.Errorf("%s: sender %d's %q is out of order", where, s, text)
			}
			last = idx[0]
		}
	}
}

// TestStartRefusesBrokenStore: a node whose store cannot be opened exits
// non-zero and names the setting at fault, without a panic.
func TestStartRefusesBrokenStore(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the chatnode binary")
	}
	bin := buildChatnode(t)
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, dir string) []string // main.ini keys
		want    string
	}{
		{"corrupt database", func(t *testing.T, dir string) []string {
			data := filepath.Join(dir, "data")
			if err := os.MkdirAll(data, 0o750); err != nil {
				t.Fatal(err)
			}
			garbage := []byte(strings.Repeat("this is not an SQLite database\x00\xff", 512))
			if err := os.WriteFile(filepath.Join(data, "chatnode.db"), garbage, 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"data_dir", data}
		}, "data_dir"},
		{"data_dir is a file", func(t *testing.T, dir string) []string {
			file := filepath.Join(dir, "data")
			if err := os.WriteFile(file, []byte("a file"), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{"data_dir", file}
		}, "data_dir"},
		{"unreachable postgres", func(t *testing.T, dir string) []string {
			return []string{"data_dir", filepath.Join(dir, "data"), "store", "postgres", "db_dsn", "postgres://postgres@127.0.0.1:1/test"}
		}, "db_dsn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			keys := tc.prepare(t, dir)
			ini := writeINI(t, dir, testKeys(filepath.Join(dir, "data")), keys...)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "--config", ini, "--port", "0")
			var stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stderr, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() <= 0 {
				t.Fatalf("chatnode ended with %v, want a non-zero exit\n%s", err, stderr.String())
			}
			out := stderr.String()
			if !strings.Contains(out, tc.want) {
				t.Errorf("output does not name %s:\n%s", tc.want, out)
			}
			if strings.Contains(out, "panic:") || strings.Contains(out, "goroutine ") {
				t.Errorf("chatnode panicked:\n%s", out)
			}
		})
	}
}

// buildChatnode builds cmd/chatnode into the test's temporary directory.
func buildChatnode(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if err != nil || root == "." {
		tb.Fatalf("find the module root: %v", err)
	}
	bin := filepath.Join(tb.TempDir(), "chatnode")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/chatnode")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build: %v\n%s", err, b)
	}
	return bin
}

// chatnodeProcess is a chatnode binary running as a child process.
type chatnodeProcess struct {
	cmd    *exec.Cmd
	addr   string
	stderr syncBuffer
	exited chan struct{}
}

var listenRE = regexp.MustCompile(`msg="chatnode started".* listen=(\S+)`)

// startChatnode starts bin with the configuration ini on a free port and
// waits until it answers /health. The process is killed when the test
// ends; its output is shown when the test fails.
func startChatnode(tb testing.TB, bin, ini string) *chatnodeProcess {
	tb.Helper()
	p := &chatnodeProcess{cmd: exec.Command(bin, "--config", ini, "--port", "0"), exited: make(chan struct{})}
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	p.cmd.Stdout = &p.stderr
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	addr := ""
	go func() {
		defer close(p.exited)
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(&p.stderr, line)
			if m := listenRE.FindStringSubmatch(line); m != nil {
				mu.Lock()
				addr = m[1]
				mu.Unlock()
			}
		}
		_ = p.cmd.Wait()
	}()
	tb.Cleanup(func() {
		p.kill(tb)
		if tb.Failed() {
			tb.Logf("chatnode output (pid %d):\n%s", p.cmd.Process.Pid, p.stderr.String())
		}
	})
	testutil.WaitFor(tb, 30*time.Second, func() error {
		select {
		case <-p.exited:
			tb.Fatalf("chatnode exited while starting: %v\n%s", p.cmd.ProcessState, p.stderr.String())
		default:
		}
		mu.Lock()
		defer mu.Unlock()
		if addr == "" {
			return errors.New("chatnode has not logged its listen address")
		}
		p.addr = addr
		return nil
	})
	n := newTestNode(p.addr, "")
	testutil.WaitFor(tb, 30*time.Second, func() error {
		a, err := n.request(http.MethodGet, "/health", "")
		if err != nil || a.Status != http.StatusOK {
			return fmt.Errorf("health: %v %s", err, a)
		}
		return nil
	})
	return p
}

// kill sends SIGKILL and waits for the process to end.
func (p *chatnodeProcess) kill(tb testing.TB) {
	tb.Helper()
	select {
	case <-p.exited:
		return
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		tb.Errorf("kill chatnode: %v", err)
	}
	<-p.exited
	if ws, ok := p.cmd.ProcessState.Sys().(interface{ Signaled() bool }); ok && !ws.Signaled() {
		tb.Logf("chatnode exited with %s before SIGKILL", strconv.Quote(p.cmd.ProcessState.String()))
	}
}

// TestGCPercent starts the binary with gc_percent set: the runtime reports
// it, unless GOGC in the environment says otherwise.
func TestGCPercent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the chatnode binary")
	}
	bin := buildChatnode(t)
	for _, tc := range []struct{ env, want string }{{"", "300"}, {"150", "150"}} {
		t.Setenv("GOGC", tc.env)
		dir := t.TempDir()
		p := startChatnode(t, bin, writeINI(t, dir, testKeys(filepath.Join(dir, "data")), "gc_percent", "300"))
		resp, err := http.Get("http://" + p.addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^go_gc_gogc_percent\{[^}]*\} (\S+)$`).FindSubmatch(body)
		if m == nil || string(m[1]) != tc.want {
			t.Errorf("GOGC=%q: go_gc_gogc_percent %q, want %s", tc.env, m, tc.want)
		}
		p.kill(t)
	}
}
