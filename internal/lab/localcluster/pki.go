package localcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certValidity is how long every certificate of a local cluster is valid.
const certValidity = 7 * 24 * time.Hour

// keyPair is a certificate with its private key, in parsed and PEM form.
type keyPair struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	keyPEM  []byte
}

// certRequest describes a certificate to issue.
type certRequest struct {
	commonName string
	orgs       []string
	usage      x509.ExtKeyUsage
	dnsNames   []string
	ips        []net.IP
}

// newCA creates a self-signed certificate authority.
func newCA(commonName string) (*keyPair, error) {
	return sign(nil, certRequest{commonName: commonName})
}

// issue signs a leaf certificate with the CA kp.
func (kp *keyPair) issue(req certRequest) (*keyPair, error) { return sign(kp, req) }

// tlsCertificate returns kp as a tls.Certificate.
func (kp *keyPair) tlsCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(kp.certPEM, kp.keyPEM)
}

// sign creates a key and a certificate signed by ca, or a self-signed CA when ca is nil.
func sign(ca *keyPair, req certRequest) (*keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: req.commonName, Organization: req.orgs},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(certValidity),
		DNSNames:     req.dnsNames,
		IPAddresses:  req.ips,
	}
	parent, signer := tmpl, crypto.Signer(key)
	if ca == nil {
		tmpl.IsCA = true
		tmpl.BasicConstraintsValid = true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{req.usage}
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, fmt.Errorf("signing certificate %q: %w", req.commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &keyPair{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// Client identities of the components.
const (
	adminUser             = "navius-admin"
	controllerManagerUser = "system:kube-controller-manager"
	schedulerUser         = "system:kube-scheduler"
	kwokUser              = "kwok-controller"
	frontProxyUser        = "front-proxy-client"
	mastersGroup          = "system:masters"
)

// pki is the set of keys and certificates of one local cluster.
type pki struct {
	dir        string
	ca         *keyPair
	frontProxy *keyPair
	apiserver  *keyPair
	proxyCli   *keyPair
	clients    map[string]*keyPair // by user name
	saKeyPEM   []byte
	saPubPEM   []byte
}

// newPKI generates every key and certificate and writes the files the
// components read into dir.
func newPKI(dir string) (*pki, error) {
	p := &pki{dir: dir, clients: map[string]*keyPair{}}
	var err error
	if p.ca, err = newCA("navius-localcluster-ca"); err != nil {
		return nil, err
	}
	if p.frontProxy, err = newCA("navius-localcluster-front-proxy-ca"); err != nil {
		return nil, err
	}
	p.apiserver, err = p.ca.issue(certRequest{
		commonName: "kube-apiserver",
		usage:      x509.ExtKeyUsageServerAuth,
		dnsNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"},
		ips: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(firstServiceIP)},
	})
	if err != nil {
		return nil, err
	}
	if p.proxyCli, err = p.frontProxy.issue(certRequest{commonName: frontProxyUser, usage: x509.ExtKeyUsageClientAuth}); err != nil {
		return nil, err
	}
	for user, orgs := range map[string][]string{
		adminUser:             {mastersGroup},
		controllerManagerUser: nil,
		schedulerUser:         nil,
		kwokUser:              {mastersGroup},
	} {
		kp, err := p.ca.issue(certRequest{commonName: user, orgs: orgs, usage: x509.ExtKeyUsageClientAuth})
		if err != nil {
			return nil, err
		}
		p.clients[user] = kp
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return nil, err
	}
	p.saKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)})
	p.saPubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	return p, p.write()
}

// write stores the files the processes read.
func (p *pki) write() error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	files := map[string][]byte{
		"ca.crt":                 p.ca.certPEM,
		"front-proxy-ca.crt":     p.frontProxy.certPEM,
		"apiserver.crt":          p.apiserver.certPEM,
		"apiserver.key":          p.apiserver.keyPEM,
		"front-proxy-client.crt": p.proxyCli.certPEM,
		"front-proxy-client.key": p.proxyCli.keyPEM,
		"sa.key":                 p.saKeyPEM,
		"sa.pub":                 p.saPubPEM,
	}
	for name, data := range files {
		if err := os.WriteFile(p.path(name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// path returns the path of a file in the PKI directory.
func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

// serving issues a serving certificate for a local server reachable under the
// given DNS names and 127.0.0.1.
func (p *pki) serving(dnsNames ...string) (tls.Certificate, error) {
	kp, err := p.ca.issue(certRequest{
		commonName: dnsNames[0],
		usage:      x509.ExtKeyUsageServerAuth,
		dnsNames:   dnsNames,
		ips:        []net.IP{net.ParseIP("127.0.0.1")},
	})
	if err != nil {
		return tls.Certificate{}, err
	}
	return kp.tlsCertificate()
}

// caPool returns a pool holding the cluster CA.
func (p *pki) caPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.cert)
	return pool
}
