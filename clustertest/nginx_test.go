package clustertest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatnode/chatnode/internal/testservices"
	"github.com/chatnode/chatnode/internal/testutil"
)

// nginxConf is the test's nginx.conf: the shipped deploy/nginx/chatnode.conf
// in a server on a loopback port, with the upstream include written by the
// test. Arguments: the user line, the work directory, the upstream include,
// the port, the shipped chatnode.conf.
const nginxConf = `%s
worker_processes 1;
events { worker_connections 512; }
http {
    log_format routed '$request_method $uri $status upstream=$upstream_addr';
    access_log %[2]s/access.log routed;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    include %[3]s;
    server {
        listen 127.0.0.1:%[4]d;
        include %[5]s;
    }
}
`

// upstreamsFor returns the shipped upstreams-tls.conf (upstreams-plain.conf
// when tls is nil) with the addresses of the test's nodes and the
// repository's deploy/nginx directory put in. Over TLS nginx checks the
// nodes' certificate, as the file's comments describe.
func upstreamsFor(tb testing.TB, deploy string, master, slave *node, tls *tlsFiles) string {
	tb.Helper()
	name := "upstreams-plain.conf"
	if tls != nil {
		name = "upstreams-tls.conf"
	}
	b, err := os.ReadFile(filepath.Join(deploy, name))
	if err != nil {
		tb.Fatal(err)
	}
	conf := string(b)
	for _, r := range [][2]string{
		{"server 127.0.0.1:8080;", "server " + master.addr + ";"},
		{"server 127.0.0.1:8270;", "server " + slave.addr + ";"},
		{"default /etc/nginx/chatnode;", "default " + deploy + ";"},
	} {
		if n := strings.Count(conf, r[0]); n != 1 {
			tb.Fatalf("%s holds %q %d times, want once", name, r[0], n)
		}
		conf = strings.Replace(conf, r[0], r[1], 1)
	}
	if tls == nil {
		return conf
	}
	return conf + fmt.Sprintf("\nproxy_ssl_verify on;\nproxy_ssl_trusted_certificate %s;\nproxy_ssl_name %s;\n", tls.cert, tlsName)
}

// startNginx runs nginx in front of master and slave with the shipped
// configuration and returns a client of it. nginx stops when the test ends.
func startNginx(tb testing.TB, c *cluster, master, slave *node) *endpoint {
	tb.Helper()
	bin := needNginx(tb)
	deploy := filepath.Join(repoRoot(tb), "deploy", "nginx")
	dir := tb.TempDir()
	upstreams := filepath.Join(dir, "upstreams.conf")
	writeFile(tb, upstreams, upstreamsFor(tb, deploy, master, slave, c.tls))
	user := ""
	if os.Geteuid() == 0 {
		// Workers write request bodies under dir, which only root may.
		user = "user root;"
	}
	// The port is picked free and then given to nginx; another process may
	// take it in between, so a bind failure is retried on a new port.
	for attempt := 1; ; attempt++ {
		port := freePort(tb)
		conf := filepath.Join(dir, "nginx.conf")
		writeFile(tb, conf, fmt.Sprintf(nginxConf, user, dir, upstreams, port, filepath.Join(deploy, "chatnode.conf")))
		var log testservices.SyncBuffer
		cmd := exec.Command(bin, "-p", dir+"/", "-c", conf,
			"-g", "daemon off; pid "+filepath.Join(dir, "nginx.pid")+"; error_log stderr;")
		cmd.Stdout, cmd.Stderr = &log, &log
		setDeathSignal(cmd)
		if err := cmd.Start(); err != nil {
			tb.Fatalf("start nginx: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		up := false
		testutil.WaitFor(tb, waitTimeout, func() error {
			select {
			case <-exited:
				return nil
			default:
			}
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return fmt.Errorf("nginx does not accept on %s: %v", addr, err)
			}
			conn.Close()
			up = true
			return nil
		})
		if !up {
			if strings.Contains(log.String(), "Address already in use") && attempt < 3 {
				continue
			}
			tb.Fatalf("nginx exited at start:\n%s", log.String())
		}
		tb.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			if tb.Failed() {
				access, _ := os.ReadFile(filepath.Join(dir, "access.log"))
				tb.Logf("nginx log:\n%s\nnginx access log:\n%s", log.String(), access)
			}
		})
		return newEndpoint(addr, nil)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Through nginx with the shipped configuration, to nodes serving TLS (as
// in the seed) or plain HTTP: the operator's set-status and WebSocket reach
// the slave, everything else the master, a chat flows end to end, and a body
// over 64 KiB gets nginx's 413 with the JSON error body.
func TestNginxRouting(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tls  bool
	}{{"tls", true}, {"plain", false}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testNginxRouting(t, tc.tls)
		})
	}
}

func testNginxRouting(t *testing.T, tls bool) {
	c := newCluster(t, clusterOptions{TLS: tls})
	master, slave := c.startPair()
	ngx := startNginx(t, c, master, slave)
	servedBy := func(what string, h http.Header, want *node) {
		t.Helper()
		if got := h.Get("X-Upstream"); got != want.addr {
			t.Errorf("%s: served by %q, want the %s (%s)", what, got, want.name, want.addr)
		}
	}

	op, a := loginAnswer(t, ngx)
	servedBy("login", a.Header, master)
	a = op.setStatus(t, ngx, "online")
	servedBy("set-status", a.Header, slave)
	opStream, resp := op.socket(t, ngx)
	servedBy("operator WebSocket", resp.Header, slave)

	v, a := initVisitor(t, ngx)
	servedBy("visitor init", a.Header, master)
	vStream := v.follow(t, ngx)
	a, err := v.act(ngx, "chat.start", "first-question", "through nginx", "client-side-id", "q-1")
	if err != nil || !a.OK() {
		t.Fatalf("chat.start through nginx: %v %v", a, err)
	}
	servedBy("chat.start", a.Header, master)
	chatID := waitAssigned(t, opStream)

	a, err = v.act(ngx, "chat.message", "message", "visitor via nginx", "client-side-id", "v-1")
	if err != nil || !a.OK() {
		t.Fatalf("visitor message through nginx: %v %v", a, err)
	}
	servedBy("visitor message", a.Header, master)
	a, err = op.message(ngx, chatID, "operator via nginx", "o-1")
	if err != nil || !a.OK() {
		t.Fatalf("operator message through nginx: %v %v", a, err)
	}
	servedBy("operator message", a.Header, master)
	texts := []string{"through nginx", "visitor via nginx", "operator via nginx"}
	testutil.WaitFor(t, waitTimeout, func() error { return opStream.hasTexts(chatID, texts...) })
	testutil.WaitFor(t, waitTimeout, func() error { return vStream.hasTexts(chatID, texts...) })

	// A body just under the limit passes nginx and reaches the node, which
	// judges the message (longer than max_message_length).
	a, err = v.act(ngx, "chat.message", "message", strings.Repeat("x", 60<<10), "client-side-id", "v-long")
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != http.StatusBadRequest || !strings.Contains(string(a.Body), "max-message-length-exceeded") {
		t.Errorf("60 KiB message through nginx: %v, want the node's 400 max-message-length-exceeded", a)
	}
	servedBy("60 KiB message", a.Header, master)

	// Over the limit, nginx answers itself, on either node's route.
	big := strings.Repeat("x", 70<<10)
	for _, path := range []string{"/l/v/m/action", "/l/o/set-status"} {
		a := ngx.mustDo(t, http.MethodPost, path, testservices.Form("auth-token", op.token, "message", big))
		var e struct {
			Error string `json:"error"`
		}
		if a.Status != http.StatusRequestEntityTooLarge || json.Unmarshal(a.Body, &e) != nil || e.Error != "request-entity-too-large" {
			t.Errorf("POST %s with a 70 KiB body: %v, want 413 {\"error\":\"request-entity-too-large\"}", path, a)
		}
		if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("POST %s with a 70 KiB body: Content-Type %q, want application/json", path, ct)
		}
		if got := a.Header.Get("X-Upstream"); got != "" {
			t.Errorf("POST %s with a 70 KiB body reached node %s", path, got)
		}
	}
}
