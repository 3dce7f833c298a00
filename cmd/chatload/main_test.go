package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestBadFlagsExitTwo(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--rate", "lots", "--url", "http://203.0.113.9:8080"}, &out, &errb, false)
	if code != 2 {
		t.Fatalf("exit %d", code)
	}
	msg := errb.String()
	for _, want := range []string{`--rate "lots"`, "not a loopback address", "--allow-remote"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr %q lacks %q", msg, want)
		}
	}
	if out.Len() != 0 {
		t.Errorf("stdout %q", out.String())
	}
}

func TestHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"--help"}, &out, &errb, false); code != 0 || !strings.Contains(out.String(), "--visitor-transport") {
		t.Fatalf("exit %d, %q", code, out.String())
	}
}

func TestClosedPortFailsWithReport(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	for _, asJSON := range []bool{false, true} {
		args := []string{"--url", url, "--operators", "2", "--visitors", "2", "--duration", "1s", "--setup-timeout", "2s"}
		if asJSON {
			args = append(args, "--json")
		}
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb, true)
		if code != 1 {
			t.Fatalf("exit %d; stderr %q", code, errb.String())
		}
		if strings.Contains(out.String(), "\r") {
			t.Errorf("progress line in a report that has none to show: %q", out.String())
		}
		if !asJSON {
			if !strings.Contains(out.String(), "login: connection-refused") || !strings.Contains(out.String(), "result: NOT OK") {
				t.Fatalf("table:\n%s", out.String())
			}
			continue
		}
		var rep struct {
			OK       bool              `json:"ok"`
			Failures map[string]uint64 `json:"failures"`
		}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("not one JSON object: %v\n%s", err, out.String())
		}
		if rep.OK || rep.Failures["login: connection-refused"] != 2 {
			t.Fatalf("report %+v", rep)
		}
	}
}

func TestAccountsCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"accounts", "--operators", "3", "--max-chats", "50", "--password", "pw"}, &out, &errb, false); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var file struct {
		Operators []struct {
			Login        string `json:"login"`
			PasswordHash string `json:"password_hash"`
			MaxChats     int    `json:"max_chats"`
		} `json:"operators"`
	}
	if err := json.Unmarshal(out.Bytes(), &file); err != nil {
		t.Fatal(err)
	}
	if len(file.Operators) != 3 || file.Operators[2].MaxChats != 50 || file.Operators[2].Login != "op3" {
		t.Fatalf("%+v", file)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(file.Operators[0].PasswordHash), []byte("pw")); err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), []string{"accounts", "--operators", "none"}, &out, &errb, false); code != 2 {
		t.Fatalf("bad flag: exit %d", code)
	}
}

func TestProcsSetsGOMAXPROCS(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ln.Close()
	var out, errb bytes.Buffer
	args := []string{"--url", url, "--operators", "1", "--visitors", "1", "--duration", "1s", "--setup-timeout", "2s",
		"--procs", "1", "--json"}
	if code := run(context.Background(), args, &out, &errb, false); code != 1 {
		t.Fatalf("exit %d; stderr %q", code, errb.String())
	}
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Errorf("GOMAXPROCS after --procs 1 = %d", n)
	}
	var rep struct {
		Settings struct {
			Procs int `json:"procs"`
		} `json:"settings"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || rep.Settings.Procs != 1 {
		t.Fatalf("report settings %+v, %v", rep.Settings, err)
	}
}
