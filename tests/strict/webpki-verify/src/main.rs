// webpki-verify: checks a certificate chain with webpki, the verifier behind
// rustls. Unlike OpenSSL, GnuTLS, NSS or mbedTLS it compares each signature
// AlgorithmIdentifier byte for byte with the encodings RFC 5758 and RFC 4055
// allow, so an ecdsa-with-SHA256 followed by NULL is refused (minica issue 13).
// Not a general tool: the integration tests call it with DER files.
//
// Usage: webpki-verify server|client ROOT.der LEAF.der [INTERMEDIATE.der]... [--name DNS]
// Prints "ok" and exits 0 when the chain verifies, else prints webpki's error
// and exits 1; 2 for a usage or I/O error.
use std::process::exit;
use std::time::{SystemTime, UNIX_EPOCH};

static ALGS: &[&webpki::SignatureAlgorithm] = &[
    &webpki::ECDSA_P256_SHA256,
    &webpki::ECDSA_P256_SHA384,
    &webpki::ECDSA_P384_SHA256,
    &webpki::ECDSA_P384_SHA384,
    &webpki::RSA_PKCS1_2048_8192_SHA256,
    &webpki::RSA_PKCS1_2048_8192_SHA384,
    &webpki::RSA_PKCS1_2048_8192_SHA512,
];

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        eprintln!("webpki-verify: {}: {}", path, e);
        exit(2)
    })
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut name = None;
    if let Some(i) = args.iter().position(|a| a == "--name") {
        if i + 1 >= args.len() {
            eprintln!("webpki-verify: --name needs a DNS name");
            exit(2)
        }
        name = Some(args.remove(i + 1));
        args.remove(i);
    }
    if args.len() < 3 || (args[0] != "server" && args[0] != "client") {
        eprintln!("usage: webpki-verify server|client ROOT.der LEAF.der [INTERMEDIATE.der]... [--name DNS]");
        exit(2)
    }
    let root = read(&args[1]);
    let leaf = read(&args[2]);
    let inters: Vec<Vec<u8>> = args[3..].iter().map(|p| read(p)).collect();
    let inter_refs: Vec<&[u8]> = inters.iter().map(|v| v.as_slice()).collect();
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let time = webpki::Time::from_seconds_since_unix_epoch(secs);

    // The root is a trust anchor: webpki never checks its self-signature, only
    // the signatures the root and the intermediate made below it.
    let result = webpki::TrustAnchor::try_from_cert_der(&root)
        .and_then(|anchor| {
            let anchors = [anchor];
            let ee = webpki::EndEntityCert::try_from(leaf.as_slice())?;
            if args[0] == "server" {
                ee.verify_is_valid_tls_server_cert(
                    ALGS,
                    &webpki::TlsServerTrustAnchors(&anchors),
                    &inter_refs,
                    time,
                )?;
            } else {
                ee.verify_is_valid_tls_client_cert(
                    ALGS,
                    &webpki::TlsClientTrustAnchors(&anchors),
                    &inter_refs,
                    time,
                )?;
            }
            if let Some(n) = &name {
                let dns = webpki::DnsNameRef::try_from_ascii_str(n)
                    .map_err(|_| webpki::Error::BadDer)?;
                ee.verify_is_valid_for_dns_name(dns)?;
            }
            Ok(())
        });
    match result {
        Ok(()) => println!("ok"),
        Err(e) => {
            println!("{:?}", e);
            exit(1)
        }
    }
}
