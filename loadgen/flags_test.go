package loadgen

import (
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseFlagsDefaults(t *testing.T) {
	o, err := ParseFlags(nil)
	if err != nil {
		t.Fatal(err)
	}
	if o.Mode != ModeChat || o.VisitorURLs[0] != DefaultURL || o.OperatorURLs[0] != DefaultURL ||
		o.Visitors != DefaultVisitors || o.Operators != DefaultOperators || o.Rate != DefaultRate ||
		o.Inflight != DefaultInflight || o.Duration != DefaultDuration || o.RampUp != 0 ||
		o.VisitorTransport != TransportWS || !o.CloseChats || o.RunID == "" {
		t.Fatalf("defaults: %+v", o)
	}
}

func TestParseFlagsReadsEverything(t *testing.T) {
	o, err := ParseFlags([]string{
		"--visitor-url", "http://127.0.0.1:8080,http://localhost:8270/",
		"--operator-url", "https://[::1]:8443",
		"--visitors", "200", "--operator-logins", "alice, bob", "--password", "pw",
		"--rate", "2500.5", "--inflight", "64", "--duration", "20s", "--ramp-up", "5s",
		"--drain", "3s", "--message-size", "128", "--visitor-transport", "longpoll",
		"--reply", "--pid", "42", "--metrics-url", "http://127.0.0.1:8080/metrics",
		"--json", "--close-chats=false", "--department", "sales", "--procs", "1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.VisitorURLs) != 2 || o.OperatorURLs[0] != "https://[::1]:8443" || o.Visitors != 200 ||
		strings.Join(o.OperatorLogins, "|") != "alice|bob" || o.Operators != 2 || o.Password != "pw" ||
		o.Rate != 2500.5 || o.Inflight != 64 || o.Duration != 20*time.Second || o.RampUp != 5*time.Second ||
		o.Drain != 3*time.Second || o.MessageSize != 128 || o.VisitorTransport != TransportLongPoll ||
		!o.Reply || o.PID != 42 || !o.JSON || o.CloseChats || o.Department != "sales" || o.Procs != 1 {
		t.Fatalf("parsed: %+v", o)
	}
	o, err = ParseFlags([]string{"--mode", "idle", "--conns", "19000", "--operators", "3"})
	if err != nil || o.Mode != ModeIdle || o.Conns != 19000 || o.Operators != 3 {
		t.Fatalf("idle: %+v, %v", o, err)
	}
}

func TestParseFlagsRejectsBadValues(t *testing.T) {
	tests := []struct {
		args []string
		want []string // each must appear in the message
	}{
		{[]string{"--rate", "fast"}, []string{`--rate "fast"`, "number"}},
		{[]string{"--rate", "0"}, []string{`--rate "0"`, "above 0"}},
		{[]string{"--rate", "-5"}, []string{`--rate "-5"`}},
		{[]string{"--visitors", "0"}, []string{`--visitors "0"`, "at least 1"}},
		{[]string{"--visitors", "1e3"}, []string{`--visitors "1e3"`, "whole number"}},
		{[]string{"--visitors", "1000000"}, []string{`--visitors "1000000"`, "from 1 to 100000"}},
		{[]string{"--inflight", "0"}, []string{"--inflight"}},
		{[]string{"--duration", "20"}, []string{`--duration "20"`, "duration such as"}},
		{[]string{"--duration", "0s"}, []string{"--duration", "above 0"}},
		{[]string{"--duration", "3h"}, []string{"--duration", "2h0m0s"}},
		{[]string{"--duration", "10s", "--ramp-up", "11s"}, []string{"--ramp-up", "from 0 to --duration"}},
		{[]string{"--visitor-transport", "sse"}, []string{"--visitor-transport", "ws or longpoll"}},
		{[]string{"--mode", "soak"}, []string{"--mode", "chat or idle"}},
		{[]string{"--conns", "25000"}, []string{"--conns", "from 1 to 19000"}},
		{[]string{"--message-size", "0"}, []string{"--message-size"}},
		{[]string{"--pid", "me"}, []string{"--pid"}},
		{[]string{"--procs", "-1"}, []string{`--procs "-1"`, "at least 0"}},
		{[]string{"--procs", "5000"}, []string{"--procs", "from 0 to 1024"}},
		{[]string{"--operators", "3", "--operator-logins", "a,b"}, []string{"--operators", "cannot be used with --operator-logins"}},
		{[]string{"--operator-logins", " , "}, []string{"--operator-logins", "names no login"}},
		{[]string{"--operator-logins", "alice,bob,alice"}, []string{`--operator-logins "alice"`, "listed twice"}},
		{[]string{"--url", "ftp://127.0.0.1"}, []string{"--url", "http:// or https://"}},
		{[]string{"--url", "http://127.0.0.1:8080?x=1"}, []string{"--url", "no query"}},
		{[]string{"--url", "http://user:pw@127.0.0.1"}, []string{"--url", "credentials"}},
		{[]string{"--url", ""}, []string{"must not be empty"}},
		{[]string{"--bogus"}, []string{"-bogus is not a chatload flag"}},
		{[]string{"extra"}, []string{`unexpected argument "extra"`}},
		// Every problem at once.
		{[]string{"--rate", "x", "--visitors", "-1", "--duration", "y"}, []string{"--rate", "--visitors", "--duration"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := ParseFlags(tt.args)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseFlagsRefusesRemoteHosts(t *testing.T) {
	for _, u := range []string{
		"http://10.0.0.1:8080", "http://example.com", "https://192.168.1.5", "http://[2001:db8::1]:80",
		"http://0.0.0.0:8080", "http://127.0.0.1.nip.io", "http://localhost.example.com",
	} {
		for _, f := range []string{"--url", "--visitor-url", "--operator-url", "--metrics-url"} {
			_, err := ParseFlags([]string{f, u})
			if err == nil || !strings.Contains(err.Error(), "not a loopback address") || !strings.Contains(err.Error(), "--allow-remote") {
				t.Errorf("%s %s: %v", f, u, err)
			}
		}
		if _, err := ParseFlags([]string{"--url", u, "--allow-remote"}); err != nil {
			t.Errorf("--allow-remote %s: %v", u, err)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://127.9.8.7", "http://[::1]:8080", "http://LOCALHOST:1", "https://localhost/chat"} {
		if _, err := ParseFlags([]string{"--url", u}); err != nil {
			t.Errorf("%s refused: %v", u, err)
		}
	}
}

func TestParseFlagsHelp(t *testing.T) {
	for _, a := range []string{"-h", "--help"} {
		if _, err := ParseFlags([]string{a}); !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%s: %v", a, err)
		}
	}
}

func TestParseAccountsFlags(t *testing.T) {
	a, err := ParseAccountsFlags([]string{"--operators", "7", "--max-chats", "100", "--operator-login-prefix", "agent"})
	if err != nil || a.Operators != 7 || a.MaxChats != 100 || a.Prefix != "agent" || a.Password != DefaultPassword {
		t.Fatalf("%+v, %v", a, err)
	}
	if _, err := ParseAccountsFlags([]string{"--operators", "0", "--max-chats", "x"}); err == nil ||
		!strings.Contains(err.Error(), "--operators") || !strings.Contains(err.Error(), "--max-chats") {
		t.Fatalf("bad values: %v", err)
	}
}
