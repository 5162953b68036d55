package dev.nemoh.server;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.math.BigInteger;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Key;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.interfaces.RSAPrivateCrtKey;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * HTTPS from a PEM certificate chain and a PEM private key (PKCS#8, or PKCS#1 for RSA), as certbot or openssl write
 * them: made here with the JDK's keytool, served, and reached through an HttpClient that trusts only that
 * certificate. Bad files are refused with one line naming the file.
 */
@org.junit.jupiter.api.Timeout(value = 60, threadMode = org.junit.jupiter.api.Timeout.ThreadMode.SEPARATE_THREAD)
class TlsTest {
    @TempDir
    static Path dir;
    static KeyStore rsa, ec;

    /** A self-signed certificate for 127.0.0.1 and localhost, made by keytool into a PKCS#12 store. */
    static KeyStore selfSigned(String name, String... keyAlg) throws Exception {
        Path store = dir.resolve(name + ".p12");
        List<String> cmd = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(),
                "-genkeypair", "-alias", "nemoh", "-dname", "CN=localhost", "-ext", "SAN=ip:127.0.0.1,dns:localhost",
                "-validity", "2", "-storetype", "PKCS12", "-keystore", store.toString(), "-storepass", "changeit"));
        cmd.addAll(List.of(keyAlg));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0, "keytool: " + out);
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(store)) {
            ks.load(in, "changeit".toCharArray());
        }
        return ks;
    }

    @BeforeAll
    static void certificates() throws Exception {
        rsa = selfSigned("rsa", "-keyalg", "RSA", "-keysize", "2048");
        ec = selfSigned("ec", "-keyalg", "EC", "-groupname", "secp256r1");
    }

    static String pem(String type, byte[] der) {
        return "-----BEGIN " + type + "-----\n" + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(der)
                + "\n-----END " + type + "-----\n";
    }

    static Certificate cert(KeyStore ks) throws Exception {
        return ks.getCertificate("nemoh");
    }

    static Key key(KeyStore ks) throws Exception {
        return ks.getKey("nemoh", "changeit".toCharArray());
    }

    static Path write(String name, String text) throws Exception {
        return Files.writeString(dir.resolve(name), text);
    }

    /** PKCS#1 RSAPrivateKey DER (what "BEGIN RSA PRIVATE KEY" holds), encoded here from the key's numbers. */
    static byte[] pkcs1(RSAPrivateCrtKey k) {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        for (BigInteger n : List.of(BigInteger.ZERO, k.getModulus(), k.getPublicExponent(), k.getPrivateExponent(), k.getPrimeP(),
                k.getPrimeQ(), k.getPrimeExponentP(), k.getPrimeExponentQ(), k.getCrtCoefficient())) {
            body.writeBytes(der(0x02, n.toByteArray()));
        }
        return der(0x30, body.toByteArray());
    }

    static byte[] der(int tag, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int n = content.length;
        if (n < 128) out.write(n);
        else if (n < 256) { out.write(0x81); out.write(n); }
        else { out.write(0x82); out.write(n >> 8); out.write(n & 0xff); }
        out.writeBytes(content);
        return out.toByteArray();
    }

    /** An HttpClient that trusts {@code cert} only. */
    static HttpClient trusting(Certificate cert) throws Exception {
        KeyStore trust = KeyStore.getInstance("PKCS12");
        trust.load(null, null);
        trust.setCertificateEntry("server", cert);
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        return HttpClient.newBuilder().sslContext(ctx).version(HttpClient.Version.HTTP_1_1).build();
    }

    static void servesHttps(KeyStore ks, Path certFile, Path keyFile) throws Exception {
        SSLContext tls = PemTls.context(certFile, keyFile);
        try (TestServer s = TestServer.start(TestServer.options(2, 2).withTls(tls))) {
            HttpClient client = trusting(cert(ks));
            URI base = URI.create("https://127.0.0.1:" + s.server.port() + "/");
            HttpResponse<String> r = client.send(HttpRequest.newBuilder(base.resolve("v1/completions"))
                    .timeout(java.time.Duration.ofSeconds(20)).POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"hi\", \"max_tokens\": 3, \"ignore_eos\": true}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(3, Json.parse(r.body().getBytes()).get("usage").get("completion_tokens").asInt());
            assertEquals(200, client.send(HttpRequest.newBuilder(base.resolve("health")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
            // plain HTTP on the TLS port gets nowhere
            HttpClient plain = HttpClient.newBuilder().connectTimeout(java.time.Duration.ofSeconds(5)).build();
            assertThrows(java.io.IOException.class, () -> plain.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.server.port() + "/health"))
                    .timeout(java.time.Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString()));
        }
    }

    @Test
    void servesHttpsWithAPkcs8RsaKey() throws Exception {
        servesHttps(rsa, write("rsa-cert.pem", pem("CERTIFICATE", cert(rsa).getEncoded())),
                write("rsa-key.pem", pem("PRIVATE KEY", key(rsa).getEncoded())));
    }

    @Test
    void servesHttpsWithAPkcs1RsaKey() throws Exception {
        servesHttps(rsa, write("rsa1-cert.pem", pem("CERTIFICATE", cert(rsa).getEncoded())),
                write("rsa1-key.pem", pem("RSA PRIVATE KEY", pkcs1((RSAPrivateCrtKey) key(rsa)))));
    }

    @Test
    void servesHttpsWithAPkcs8EcKey() throws Exception {
        servesHttps(ec, write("ec-cert.pem", pem("CERTIFICATE", cert(ec).getEncoded())),
                write("ec-key.pem", "# comment lines and text around the blocks are fine\n" + pem("PRIVATE KEY", key(ec).getEncoded())));
    }

    static String refusal(Path cert, Path key) {
        return assertThrows(IllegalArgumentException.class, () -> PemTls.context(cert, key)).getMessage();
    }

    @Test
    void badFilesAreRefusedInOneLine() throws Exception {
        Path cert = write("c.pem", pem("CERTIFICATE", cert(rsa).getEncoded()));
        Path key = write("k.pem", pem("PRIVATE KEY", key(rsa).getEncoded()));
        Path ecKey = write("eck.pem", pem("PRIVATE KEY", key(ec).getEncoded()));
        Path missing = dir.resolve("missing.pem");
        record Case(Path cert, Path key, String expected) {}
        for (Case c : List.of(
                new Case(missing, key, "--ssl-certfile " + missing + ": no such file"),
                new Case(cert, missing, "--ssl-keyfile " + missing + ": no such file"),
                new Case(key, key, "--ssl-certfile " + key + " holds no PEM certificate"),
                new Case(write("junk.pem", "not a certificate"), key, "holds no PEM certificate"),
                new Case(write("badb64.pem", "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n"), key, "is not a valid certificate"),
                new Case(cert, cert, "--ssl-keyfile " + cert + " holds no PEM private key"),
                new Case(cert, write("enc.pem", pem("ENCRYPTED PRIVATE KEY", new byte[] {1, 2, 3})), "is encrypted"),
                new Case(cert, write("sec1.pem", pem("EC PRIVATE KEY", new byte[] {1, 2, 3})), "openssl pkcs8 -topk8 -nocrypt"),
                new Case(cert, write("badkey.pem", pem("PRIVATE KEY", new byte[] {1, 2, 3})), "is not a valid"),
                new Case(cert, ecKey, "does not belong to the certificate"))) {
            String line = refusal(c.cert(), c.key());
            assertEquals(1, line.lines().count(), line);
            assertTrue(line.contains(c.expected()), c.expected() + " in: " + line);
        }
    }
}
