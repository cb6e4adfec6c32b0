package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/rewind-dev/rewind/internal/proctest"
	"github.com/rewind-dev/rewind/internal/testenv"
)

// TestExternalNATS: the server connects to an external NATS with a user and
// password, or over TLS with a CA, and refuses at once, with the reason,
// credentials or certificates that cannot work.
func TestExternalNATS(t *testing.T) {
	t.Run("user and password", func(t *testing.T) {
		n := testenv.StartNATSWith(t, func(o *server.Options) { o.Username, o.Password = "rewind", "s3cret" })
		url := fmt.Sprintf("nats://127.0.0.1:%d", n.Port)
		p := &proc{proctest.StartRewind(t, "rewind", "NATS_URL="+url, "NATS_USER=rewind", "NATS_PASSWORD=s3cret")}
		p.publish(t, "t", 1)
		expectRefusal(t, "Authorization Violation", "NATS_URL="+url, "NATS_USER=rewind", "NATS_PASSWORD=wrong")
	})
	t.Run("TLS", func(t *testing.T) {
		dir := t.TempDir()
		ca, cert, key := writeCerts(t, dir)
		n := testenv.StartNATSWith(t, func(o *server.Options) {
			tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: cert, KeyFile: key})
			if err != nil {
				t.Fatal(err)
			}
			o.TLSConfig, o.TLS = tc, true
		})
		url := fmt.Sprintf("tls://127.0.0.1:%d", n.Port)
		p := &proc{proctest.StartRewind(t, "rewind", "NATS_URL="+url, "NATS_CA="+ca)}
		p.publish(t, "t", 1)
		expectRefusal(t, "certificate", "NATS_URL="+url)
	})
}

// expectRefusal starts the server with env and expects it to stop by
// itself, quickly, with a non-zero status and reason in its log.
func expectRefusal(t *testing.T, reason string, env ...string) {
	t.Helper()
	bin := proctest.Build(t, "github.com/rewind-dev/rewind/cmd/server")
	base := []string{"ADDR=127.0.0.1:0", "LOG_LEVEL=info"}
	p, _ := proctest.Start(t, "rewind-refused", bin, nil, append(base, env...), regexp.MustCompile(`msg="server stopped"`))
	select {
	case <-p.Exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("the server did not stop after refusing:\n%s", p.Log)
	}
	if p.Cmd.ProcessState.ExitCode() == 0 || !strings.Contains(p.Log.String(), reason) {
		t.Fatalf("exit %d, want non-zero with %q in:\n%s", p.Cmd.ProcessState.ExitCode(), reason, p.Log)
	}
}

// writeCerts makes a CA and a certificate for 127.0.0.1 signed by it.
func writeCerts(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rewind test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(srvKey)
	ca, cert, key = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for path, block := range map[string]*pem.Block{
		ca: {Type: "CERTIFICATE", Bytes: caDER}, cert: {Type: "CERTIFICATE", Bytes: srvDER}, key: {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca, cert, key
}
