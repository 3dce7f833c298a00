package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatnode/chatnode"
)

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(t, cert, key)
	ts := mustRunServer(t, Options{TLSCertFile: cert, TLSKeyFile: key})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := client.Get("https://" + ts.addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != `{"status":"ok"}` || resp.TLS == nil {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}

func TestMaxConnsBoundsSockets(t *testing.T) {
	ts := mustRunServer(t, Options{MaxConns: 1})
	ts.mustDial(t, "/ws/o/delta", operatorForm("since", "5"))
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		if ts.Stats().WSOperator != 1 {
			return errorf("not counted yet")
		}
		return nil
	})
	// fasthttp holds the first connection's HTTP slot for a moment after
	// the upgrade: until it lets go, its own concurrency answer comes first.
	var body []byte
	checkFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		_, resp, err := ts.dial(t, "/ws/o/delta", operatorForm("since", "5"))
		if err == nil || resp == nil || resp.StatusCode != 503 {
			t.Fatalf("second socket: %v %v", err, resp)
		}
		body, _ = io.ReadAll(resp.Body)
		if strings.Contains(string(body), "Concurrency limit exceeded") {
			return errorf("fasthttp still counts the first connection")
		}
		return nil
	})
	if string(body) != `{"error":"`+chatnode.EUnavailable+`","message":"too many connections"}` {
		t.Fatalf("%s", body)
	}
}

func writeSelfSigned(t *testing.T, certPath, keyPath string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}
