package builtins

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/monsta/monsta/runtime"
)

// tlsOptions are the TLS options shared by every type that speaks TLS.
func tlsOptions() []runtime.Option {
	return []runtime.Option{
		{Name: "tls_verify", Default: "yes", Parse: runtime.Bool,
			Help: "Verify the server's certificate and name (yes or no)."},
		{Name: "tls_ca", Help: "PEM file of CA certificates to trust instead of the system's."},
	}
}

// tlsConfig builds the client TLS configuration for serverName from the
// tls_verify and tls_ca options.
func tlsConfig(o *runtime.Options, serverName string) (*tls.Config, error) {
	c := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if !o.Bool("tls_verify") {
		c.InsecureSkipVerify = true
	}
	if ca := o.String("tls_ca"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("read tls_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_ca %s: no PEM certificate found", ca)
		}
		c.RootCAs = pool
	}
	return c, nil
}
