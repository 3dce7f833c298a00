package config

import (
	"os"
	"strings"
	"testing"
)

func FuzzParseINI(f *testing.F) {
	if data, err := os.ReadFile("sample/main.ini"); err == nil {
		f.Add(data)
	}
	f.Add([]byte("key = \"quoted \\\" value\"\n; comment\r\nno equals\n= v\n\xef\xbb\xbfa=b"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, ps := parseINI("main.ini", data)
		for _, e := range entries {
			if e.key == "" || e.line < 1 {
				t.Fatalf("bad entry %+v", e)
			}
		}
		for _, p := range ps {
			if p.Line < 1 {
				t.Fatalf("problem without a line: %v", p)
			}
		}
	})
}

func FuzzParseAccounts(f *testing.F) {
	if data, err := os.ReadFile("sample/accounts.json"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"departments": [{"key": 1}], "operators": [{"max_chats": 1e400, "departments": [null, "x"]}]}`))
	f.Add([]byte(`{"operators": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := strings.Count(string(data), "\n") + 1
		a, ps := parseAccounts("accounts.json", data)
		if (a == nil) == (len(ps) == 0) {
			t.Fatalf("accounts %v with %d problems", a, len(ps))
		}
		for _, p := range ps {
			if p.Line < 0 || p.Line > lines {
				t.Fatalf("problem line %d outside the %d-line input: %v", p.Line, lines, p)
			}
		}
		if a != nil && len(a.Operators) == 0 {
			t.Fatal("valid accounts without operators")
		}
	})
}

func FuzzParseCluster(f *testing.F) {
	f.Add([]byte(seedCluster))
	f.Add([]byte(`{"cluster_name": "a", "chat_server_node_names": ["a", "a", 1], "chat_server_master_node_name": null, "x": {}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pc, ps := parseCluster("cluster.json", data)
		if pc != nil && pc.masterValid && !pc.hasNode(pc.MasterNodeName) {
			t.Fatalf("master %q valid but not in %v", pc.MasterNodeName, pc.NodeNames)
		}
		if pc == nil && len(ps) == 0 {
			t.Fatal("no cluster and no problem")
		}
	})
}

func FuzzParseFlags(f *testing.F) {
	f.Add("--config\x00main.ini\x00-t\x00--port=1\x00--\x00x")
	f.Add("-\x00--\x00---x\x00-=\x00--node_name")
	f.Fuzz(func(t *testing.T, joined string) {
		fv, ps := parseFlags(strings.Split(joined, "\x00"))
		for name := range fv.given {
			if name == "" {
				t.Fatal("empty flag name given")
			}
		}
		for _, p := range ps {
			if p.File != FlagFile {
				t.Fatalf("flag problem with file %q", p.File)
			}
		}
	})
}
