// Verifies a chain with Go's crypto/x509, for the integration tests' name
// constraints matrix. Not a general tool: no hostname or key usage check,
// only the path (signatures, validity, basicConstraints, nameConstraints).
//
// Usage: verify_chain ROOT.pem INTERMEDIATES.pem LEAF.pem
// Exit 0 when the leaf verifies, 1 when it does not (reason on stderr),
// 2 on a usage or file error.
package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
)

func load(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%s: no certificate", path)
	}
	return certs, nil
}

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: verify_chain ROOT INTERMEDIATES LEAF")
		os.Exit(2)
	}
	roots, inters := x509.NewCertPool(), x509.NewCertPool()
	for i, pool := range []*x509.CertPool{roots, inters} {
		certs, err := load(os.Args[1+i])
		if err != nil {
			// A certificate Go refuses to parse (a malformed constraint)
			// is a rejection of the chain, not a harness error.
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		for _, c := range certs {
			pool.AddCert(c)
		}
	}
	leaf, err := load(os.Args[3])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// ExtKeyUsageAny: the matrix is about names, not the leaf's purpose.
	opts := x509.VerifyOptions{Roots: roots, Intermediates: inters,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
	if _, err := leaf[0].Verify(opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
