package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildBinary builds chatnode into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chatnode")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

const validINI = `mq_host = 127.0.0.1
mq_port = 5672
mq_username = guest
mq_password = s3cret-pass
mq_virtual_host = /
db_dsn = postgres://postgres@127.0.0.1:5432/chatnode
auth_secret = a-long-enough-secret
`

const seedCluster = `{"cluster_name": "default", "chat_server_node_names": ["master", "slave"], "chat_server_master_node_name": "master"}`

// TestCheckOnly runs `chatnode -t` through the real binary: a valid
// cluster configuration passes with a one-line summary; each bad one fails
// naming the offending key, and never prints the RabbitMQ password.
func TestCheckOnly(t *testing.T) {
	bin := buildBinary(t)
	write := func(dir, name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		ini     string
		cluster string
		args    []string // after --config and --cluster_config
		wantOK  bool
		wantKey string
	}{
		{"seed cluster, master", validINI, seedCluster, []string{"--node_name", "master", "--multinode_mode", "master"}, true, ""},
		{"seed cluster, slave", validINI, seedCluster, []string{"--node_name", "slave", "--multinode_mode", "slave", "--port", "8270"}, true, ""},
		{"master missing from the list", validINI, `{"cluster_name": "default", "chat_server_node_names": ["a", "slave"], "chat_server_master_node_name": "master"}`,
			[]string{"--node_name", "slave", "--multinode_mode", "slave"}, false, "chat_server_master_node_name"},
		{"node name not in the list", validINI, seedCluster, []string{"--node_name", "ghost", "--multinode_mode", "slave"}, false, "--node_name"},
		{"slave mode on the master", validINI, seedCluster, []string{"--node_name", "master", "--multinode_mode", "slave"}, false, "--multinode_mode"},
		{"missing mq_host", strings.Replace(validINI, "mq_host = 127.0.0.1\n", "", 1), seedCluster, []string{"--node_name", "master", "--multinode_mode", "master"}, false, "mq_host"},
		{"malformed mq_port", strings.Replace(validINI, "5672", "amqp", 1), seedCluster, []string{"--node_name", "master", "--multinode_mode", "master"}, false, "mq_port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"-t", "--config", write(dir, "main.ini", tt.ini), "--cluster_config", write(dir, "cluster.json", tt.cluster)}, tt.args...)
			cmd := exec.Command(bin, args...)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			out := stdout.String() + stderr.String()
			if strings.Contains(out, "s3cret-pass") {
				t.Fatalf("the password was printed:\n%s", out)
			}
			if tt.wantOK {
				if err != nil {
					t.Fatalf("want success, got %v:\n%s", err, out)
				}
				if lines := strings.Count(strings.TrimSpace(stdout.String()), "\n"); lines != 0 || !strings.Contains(stdout.String(), "mode=cluster") {
					t.Fatalf("want a one-line summary, got %q", stdout.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("want failure, got success:\n%s", out)
			}
			if !strings.Contains(stderr.String(), tt.wantKey) {
				t.Fatalf("stderr does not name %s:\n%s", tt.wantKey, stderr.String())
			}
		})
	}
}
