package dev.nemoh.server;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The TLS context of {@code serve --ssl-certfile FILE --ssl-keyfile FILE}, from PEM files as certbot, openssl or a
 * CA deliver them: the certificate chain (the server's certificate first, then intermediates) and its unencrypted
 * private key, PKCS#8 ({@code BEGIN PRIVATE KEY}: RSA, EC, Ed25519) or PKCS#1 ({@code BEGIN RSA PRIVATE KEY}). Every
 * problem (a missing file, no PEM block, an encrypted key, a key that does not belong to the certificate, an expired
 * certificate) is an {@link IllegalArgumentException} with one line naming the file and the fix.
 */
public final class PemTls {
    private PemTls() {}

    private static final Pattern BLOCK = Pattern.compile(
            "-----BEGIN ([A-Z0-9 ]+)-----\\s*(.*?)-----END \\1-----", Pattern.DOTALL);
    private static final String CONVERT = "convert it with: openssl pkcs8 -topk8 -nocrypt -in KEY -out key.pem";

    private record Block(String type, String body) {}

    public static SSLContext context(Path certFile, Path keyFile) {
        List<X509Certificate> chain = certificates(certFile);
        PrivateKey key = privateKey(keyFile, certFile, chain.getFirst());
        try {
            char[] password = new char[0];
            KeyStore store = KeyStore.getInstance("PKCS12");
            store.load(null, null);
            store.setKeyEntry("server", key, password, chain.toArray(new X509Certificate[0]));
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(store, password);
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(kmf.getKeyManagers(), null, null);
            return ctx;
        } catch (GeneralSecurityException | IOException e) {
            throw new IllegalArgumentException("cannot make a TLS context of " + certFile + " and " + keyFile + ": " + e.getMessage());
        }
    }

    private static List<X509Certificate> certificates(Path file) {
        String option = "--ssl-certfile " + file;
        List<X509Certificate> chain = new ArrayList<>();
        CertificateFactory factory;
        try {
            factory = CertificateFactory.getInstance("X.509");
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("every JDK reads X.509", e);
        }
        for (Block b : blocks(file, option)) {
            if (!b.type().equals("CERTIFICATE")) continue;
            try {
                chain.add((X509Certificate) factory.generateCertificate(new ByteArrayInputStream(decode(b, option))));
            } catch (GeneralSecurityException e) {
                throw new IllegalArgumentException(option + " is not a valid certificate (" + oneLine(e) + ")");
            }
        }
        if (chain.isEmpty()) {
            throw new IllegalArgumentException(option + " holds no PEM certificate (-----BEGIN CERTIFICATE-----); give"
                    + " the server's certificate chain in PEM");
        }
        try {
            chain.getFirst().checkValidity();
        } catch (CertificateExpiredException e) {
            throw new IllegalArgumentException(option + ": the certificate expired on " + chain.getFirst().getNotAfter() + "; renew it");
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException(option + ": the certificate is not valid yet (from "
                    + chain.getFirst().getNotBefore() + "); check the clock or the certificate");
        }
        return chain;
    }

    private static PrivateKey privateKey(Path file, Path certFile, X509Certificate cert) {
        String option = "--ssl-keyfile " + file;
        for (Block b : blocks(file, option)) {
            byte[] pkcs8;
            switch (b.type()) {
                case "PRIVATE KEY" -> pkcs8 = decode(b, option);
                case "RSA PRIVATE KEY" -> {
                    if (b.body().contains("ENCRYPTED")) throw encrypted(option);
                    pkcs8 = rsaPkcs8(decode(b, option));
                }
                case "ENCRYPTED PRIVATE KEY" -> throw encrypted(option);
                case "EC PRIVATE KEY" -> throw new IllegalArgumentException(option + " holds a SEC1 EC key (BEGIN EC PRIVATE KEY),"
                        + " which is not read; " + CONVERT);
                default -> {
                    continue;
                }
            }
            PrivateKey key = decodeKey(pkcs8, cert.getPublicKey().getAlgorithm(), option);
            if (!belongs(key, cert)) {
                throw new IllegalArgumentException("the private key in " + option + " does not belong to the certificate in "
                        + "--ssl-certfile " + certFile + "; give the key the certificate was issued for");
            }
            return key;
        }
        throw new IllegalArgumentException(option + " holds no PEM private key (-----BEGIN PRIVATE KEY----- or"
                + " -----BEGIN RSA PRIVATE KEY-----); give the certificate's unencrypted private key");
    }

    private static IllegalArgumentException encrypted(String option) {
        return new IllegalArgumentException(option + " is encrypted, and the server has no way to ask for its passphrase; "
                + CONVERT + " (and keep it readable by the server only)");
    }

    private static PrivateKey decodeKey(byte[] pkcs8, String certAlgorithm, String option) {
        List<String> algorithms = new ArrayList<>(List.of(certAlgorithm));
        for (String a : List.of("RSA", "EC", "Ed25519", "Ed448", "RSASSA-PSS")) if (!algorithms.contains(a)) algorithms.add(a);
        for (String algorithm : algorithms) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(pkcs8));
            } catch (GeneralSecurityException | RuntimeException e) {
                // not this algorithm; try the next
            }
        }
        throw new IllegalArgumentException(option + " is not a valid PKCS#8 private key of RSA, EC or EdDSA; " + CONVERT);
    }

    /** Whether {@code key} signs what the certificate's public key verifies. */
    private static boolean belongs(PrivateKey key, X509Certificate cert) {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "EdDSA", "Ed25519", "Ed448" -> "EdDSA";
            case "RSASSA-PSS" -> "RSASSA-PSS";
            default -> null;
        };
        if (algorithm == null) return key.getAlgorithm().equals(cert.getPublicKey().getAlgorithm());
        try {
            byte[] probe = new byte[32];
            new SecureRandom().nextBytes(probe);
            Signature sign = Signature.getInstance(algorithm);
            if (algorithm.equals("RSASSA-PSS")) {
                sign.setParameter(new java.security.spec.PSSParameterSpec("SHA-256", "MGF1",
                        java.security.spec.MGF1ParameterSpec.SHA256, 32, 1));
            }
            sign.initSign(key);
            sign.update(probe);
            byte[] signature = sign.sign();
            Signature verify = Signature.getInstance(algorithm);
            if (algorithm.equals("RSASSA-PSS")) verify.setParameter(sign.getParameters().getParameterSpec(java.security.spec.PSSParameterSpec.class));
            verify.initVerify(cert.getPublicKey());
            verify.update(probe);
            return verify.verify(signature);
        } catch (GeneralSecurityException | RuntimeException e) {
            return false; // a key of another kind than the certificate's
        }
    }

    /** PKCS#1 RSAPrivateKey wrapped as PKCS#8: SEQUENCE { 0, SEQUENCE { rsaEncryption, NULL }, OCTET STRING pkcs1 }. */
    private static byte[] rsaPkcs8(byte[] pkcs1) {
        byte[] version = {0x02, 0x01, 0x00};
        byte[] algorithm = {0x30, 0x0d, 0x06, 0x09, 0x2a, (byte) 0x86, 0x48, (byte) 0x86, (byte) 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00};
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(version);
        body.writeBytes(algorithm);
        body.writeBytes(der(0x04, pkcs1));
        return der(0x30, body.toByteArray());
    }

    private static byte[] der(int tag, byte[] content) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(tag);
        int n = content.length;
        if (n < 0x80) {
            out.write(n);
        } else {
            int bytes = (32 - Integer.numberOfLeadingZeros(n) + 7) / 8;
            out.write(0x80 | bytes);
            for (int i = bytes - 1; i >= 0; i--) out.write(n >>> (8 * i));
        }
        out.writeBytes(content);
        return out.toByteArray();
    }

    private static List<Block> blocks(Path file, String option) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.ISO_8859_1);
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException(option + ": no such file");
        } catch (IOException e) {
            throw new IllegalArgumentException(option + " cannot be read: " + oneLine(e));
        }
        List<Block> blocks = new ArrayList<>();
        Matcher m = BLOCK.matcher(text);
        while (m.find()) blocks.add(new Block(m.group(1), m.group(2)));
        return blocks;
    }

    private static byte[] decode(Block b, String option) {
        String body = b.body();
        if (body.contains(":")) { // RFC 1421 headers (Proc-Type, DEK-Info) before a blank line
            int blank = body.indexOf("\n\n");
            if (blank < 0) blank = body.indexOf("\r\n\r\n");
            if (blank >= 0) body = body.substring(blank);
        }
        try {
            return Base64.getDecoder().decode(body.replaceAll("\\s", ""));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(option + " is not a valid " + (b.type().contains("KEY") ? "key" : "certificate")
                    + " file: its " + b.type() + " block is not base64 (" + e.getMessage() + ")");
        }
    }

    private static String oneLine(Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replaceAll("\\s+", " ").strip();
    }
}
