package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// CA is a throwaway certificate authority.
type CA struct {
	Cert *x509.Certificate
	key  crypto.Signer
	// PEM is the CA certificate, for client_ca_file or a trust bundle.
	PEM []byte
}

// NewCA creates a self-signed ECDSA P-256 CA valid for a day.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Pool is a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Leaf describes a certificate to issue.
type Leaf struct {
	// CommonName is informational; verifiers must not rely on it.
	CommonName string
	// DNSNames and URIs are the SANs ("spiffe://..." for SPIFFE IDs).
	DNSNames []string
	URIs     []string
	// IPs are IP SANs.
	IPs []net.IP
	// Server and Client choose the extended key usages.
	Server, Client bool
	// Expired issues a certificate whose validity ended an hour ago.
	Expired bool
}

// Issued is a certificate and its key.
type Issued struct {
	CertPEM, KeyPEM []byte
	TLS             tls.Certificate
}

// Issue signs a new ECDSA P-256 leaf certificate.
func (ca *CA) Issue(l Leaf) (*Issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: l.CommonName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		DNSNames:     l.DNSNames,
		IPAddresses:  l.IPs,
	}
	if l.Expired {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	}
	for _, u := range l.URIs {
		pu, err := url.Parse(u)
		if err != nil {
			return nil, fmt.Errorf("parse URI SAN: %w", err)
		}
		tmpl.URIs = append(tmpl.URIs, pu)
	}
	if l.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if l.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	out := &Issued{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	if out.TLS, err = tls.X509KeyPair(out.CertPEM, out.KeyPEM); err != nil {
		return nil, err
	}
	return out, nil
}

// Files are the paths WriteServerFiles wrote.
type Files struct {
	Cert, Key, ClientCA string
}

// WriteServerFiles writes a server certificate, its key (mode 0600) and a
// client CA bundle into dir, as grpc_tls's cert_file, key_file and
// client_ca_file.
func WriteServerFiles(dir string, server *Issued, clientCA *CA) (Files, error) {
	f := Files{
		Cert:     filepath.Join(dir, "server.pem"),
		Key:      filepath.Join(dir, "server-key.pem"),
		ClientCA: filepath.Join(dir, "client-ca.pem"),
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{{f.Cert, server.CertPEM, 0o644}, {f.Key, server.KeyPEM, 0o600}, {f.ClientCA, clientCA.PEM, 0o644}} {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return Files{}, err
		}
	}
	return f, nil
}

// ClientConfig is what Envoy's UpstreamTlsContext does: present cert,
// verify the server against ca and require serverName among its SANs, and
// offer h2 by ALPN.
func ClientConfig(cert *Issued, ca *CA, serverName string) *tls.Config {
	c := &tls.Config{
		RootCAs:    ca.Pool(),
		ServerName: serverName,
		NextProtos: []string{"h2"},
		MinVersion: tls.VersionTLS12,
	}
	if cert != nil {
		c.Certificates = []tls.Certificate{cert.TLS}
	}
	return c
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
