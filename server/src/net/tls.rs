//! HTTPS and WSS with rustls (ring underneath: no OpenSSL in the HTTP path), from PEM
//! files or from a certificate made at start for a LAN trial.
use anyhow::{anyhow, Context, Result};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// How `--listen` speaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    Off,
    /// `--tls-cert` and `--tls-key`.
    Files { cert: PathBuf, key: PathBuf },
    /// `--tls-self-signed`: for the announced IP, this machine's hostname and localhost.
    SelfSigned { ip: IpAddr },
}

/// A TLS acceptor and what to tell people about its certificate.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// SHA-256 of the certificate (DER), as browsers show it: `AB:CD:…`.
    pub fingerprint: String,
    pub names: Vec<String>,
}

pub fn load(mode: &TlsMode) -> Result<Option<Tls>> {
    let (chain, key, names) = match mode {
        TlsMode::Off => return Ok(None),
        TlsMode::Files { cert, key } => {
            let chain = CertificateDer::pem_file_iter(cert)
                .with_context(|| format!("--tls-cert {}: cannot read it", cert.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("--tls-cert {}: not a PEM certificate chain", cert.display()))?;
            if chain.is_empty() {
                return Err(anyhow!("--tls-cert {}: holds no certificate", cert.display()));
            }
            let key = PrivateKeyDer::from_pem_file(key).with_context(|| format!("--tls-key {}: not a readable PEM private key", key.display()))?;
            (chain, key, Vec::new())
        }
        TlsMode::SelfSigned { ip } => {
            let mut names = vec![ip.to_string(), "localhost".to_string()];
            if let Some(host) = super::hostname() {
                names.push(host);
            }
            names.dedup();
            let made = rcgen::generate_simple_self_signed(names.clone()).context("making a self-signed certificate")?;
            let key = PrivateKeyDer::try_from(made.signing_key.serialize_der()).map_err(|e| anyhow!("the self-signed key: {e}"))?;
            (vec![made.cert.der().clone()], key, names)
        }
    };
    let fingerprint = fingerprint(&chain[0]);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the certificate and key do not go together")?;
    // HTTP/1.1 only: browsers open WebSockets over it (hyper's HTTP/2 has no extended
    // CONNECT here), and one connection per page is plenty for an API this small.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Tls { acceptor: TlsAcceptor::from(Arc::new(config)), fingerprint, names }))
}

fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    digest.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_names_the_ip_and_has_a_fingerprint() {
        let tls = load(&TlsMode::SelfSigned { ip: "192.0.2.7".parse().unwrap() }).unwrap().unwrap();
        assert!(tls.names.contains(&"192.0.2.7".to_string()) && tls.names.contains(&"localhost".to_string()));
        assert_eq!(tls.fingerprint.len(), 32 * 3 - 1, "{}", tls.fingerprint);
    }

    #[test]
    fn missing_or_broken_files_are_clear_errors() {
        let dir = std::env::temp_dir().join(format!("podium-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let err = load(&TlsMode::Files { cert: cert.clone(), key: key.clone() }).err().unwrap();
        assert!(format!("{err:#}").contains("--tls-cert"), "{err:#}");
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let err = load(&TlsMode::Files { cert: cert.clone(), key: key.clone() }).err().unwrap();
        assert!(format!("{err:#}").contains("--tls-key"), "{err:#}");
        std::fs::write(&key, made.signing_key.serialize_pem()).unwrap();
        assert!(load(&TlsMode::Files { cert, key }).unwrap().is_some());
        let _ = std::fs::remove_dir_all(dir);
    }
}
