// Fetches an https URL as a Java application on this host would: the JVM's
// default trust store (on Debian, /etc/ssl/certs/java/cacerts) and hostname
// check. For test_trust_store, which installs minica's root there.
//
// Usage: java TlsFetch.java URL
// Exit 0 when the page loads, 1 when TLS refuses (reason on stderr), 2 on
// any other error.
import java.io.InputStream;
import java.net.URL;
import javax.net.ssl.HttpsURLConnection;
import javax.net.ssl.SSLException;

public class TlsFetch {
    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: java TlsFetch.java URL");
            System.exit(2);
        }
        try {
            HttpsURLConnection c = (HttpsURLConnection) new URL(args[0]).openConnection();
            c.setConnectTimeout(10000);
            c.setReadTimeout(10000);
            try (InputStream in = c.getInputStream()) {
                in.readAllBytes();
            }
            System.out.println("ok");
        } catch (SSLException e) {
            System.err.println(e.getMessage());
            System.exit(1);
        } catch (Exception e) {
            System.err.println(e);
            System.exit(2);
        }
    }
}
