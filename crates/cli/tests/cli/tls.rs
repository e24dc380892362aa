//! HTTPS with rustls, and mutual TLS for capture devices, checked with curl and certificates
//! made by the openssl command.

use std::path::Path;
use std::process::Command;

use crate::server::Server;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
fn pki(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=test CA",
        ],
    );
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
        ),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        std::fs::write(dir.join(format!("{name}.ext")), ext).expect("ext");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod");
}

fn curl(dir: &Path, url: &str, extra: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", "ca.pem"])
        .args(extra)
        .arg(url)
        .current_dir(dir)
        .output()
        .expect("curl");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_service_speaks_https_and_can_require_client_certificates() {
    let cwd = tempfile::tempdir().expect("tempdir");
    let dir = cwd.path();
    pki(dir);
    let tls = ["--tls-cert", "server.pem", "--tls-key", "server.key"];
    let server = Server::start(dir, &tls);
    let url = format!("https://{}/healthz", server.addr);
    let (ok, out) = curl(dir, &url, &[]);
    assert!(ok && out.contains("\"status\":\"ok\""), "{out}");
    // Plain HTTP to the TLS port gets nothing useful.
    let (ok, _) = curl(dir, &url.replace("https://", "http://"), &[]);
    assert!(!ok);
    drop(server);

    // Mutual TLS: no client certificate, no service.
    let mut mtls = tls.to_vec();
    mtls.extend(["--tls-client-ca", "ca.pem"]);
    let server = Server::start(dir, &mtls);
    let url = format!("https://{}/healthz", server.addr);
    let (ok, out) = curl(dir, &url, &[]);
    assert!(!ok, "answered without a client certificate: {out}");
    let (ok, out) = curl(dir, &url, &["--cert", "client.pem", "--key", "client.key"]);
    assert!(ok && out.contains("\"status\":\"ok\""), "{out}");
    // A certificate from another CA is refused too.
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "rogue.key",
            "-out",
            "rogue.pem",
            "-days",
            "2",
            "-subj",
            "/CN=rogue",
        ],
    );
    let (ok, _) = curl(dir, &url, &["--cert", "rogue.pem", "--key", "rogue.key"]);
    assert!(!ok);
    drop(server);

    // A private key others can read is refused at start, with what to do.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        dir.join("server.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let out = Command::new(crate::server::binary())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(tls)
        .current_dir(dir)
        .output()
        .expect("serve");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}
