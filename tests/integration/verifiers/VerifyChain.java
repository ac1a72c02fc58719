// Verifies a chain with Java's PKIX CertPathValidator, for the integration
// tests' name constraints matrix. Not a general tool: revocation is off and
// no hostname or key usage is checked, only the path itself.
//
// Usage: java VerifyChain ROOT.pem INTERMEDIATES.pem LEAF.pem
// Exit 0 when the leaf verifies, 1 when it does not (reason on stderr),
// 2 on a usage or file error.
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

public class VerifyChain {
    private static List<X509Certificate> load(CertificateFactory cf, String path) throws Exception {
        List<X509Certificate> out = new ArrayList<>();
        try (InputStream in = new FileInputStream(path)) {
            for (java.security.cert.Certificate c : cf.generateCertificates(in)) {
                out.add((X509Certificate) c);
            }
        }
        if (out.isEmpty()) {
            throw new IOException(path + ": no certificate");
        }
        return out;
    }

    public static void main(String[] args) {
        if (args.length != 3) {
            System.err.println("usage: VerifyChain ROOT INTERMEDIATES LEAF");
            System.exit(2);
        }
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            Set<TrustAnchor> anchors = new HashSet<>();
            for (X509Certificate root : load(cf, args[0])) {
                anchors.add(new TrustAnchor(root, null));
            }
            // A CertPath runs from the leaf towards the anchor, anchor excluded.
            List<X509Certificate> path = new ArrayList<>();
            path.add(load(cf, args[2]).get(0));
            path.addAll(load(cf, args[1]));
            PKIXParameters params = new PKIXParameters(anchors);
            params.setRevocationEnabled(false);
            CertPathValidator.getInstance("PKIX").validate(cf.generateCertPath(path), params);
        } catch (Exception e) {
            // Parse failures (a constraint Java cannot read) land here too:
            // to a Java client they are a rejected chain.
            System.err.println(e.toString().replace('\n', ' '));
            System.exit(1);
        }
    }
}
