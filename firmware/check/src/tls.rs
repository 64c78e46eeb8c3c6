//! SSL_GET: HTTP_GET over TLS (rustls, with ring). The certificate is
//! checked against the Mozilla roots (webpki-roots) when `verify_cert` is
//! set; otherwise any certificate is taken (keepalived's default: backends
//! often have self-signed ones), but its handshake signatures still are
//! checked, so the peer holds the key of the certificate it shows.

use crate::probe::{Failure, Http, Target, UrlCheck, check_response, connect, exchange, within};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::{Arc, OnceLock};
use tokio_rustls::TlsConnector;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// One client config per mode (verified or not, with or without the
/// server name), built once (the root store is large).
fn config(verify: bool, sni: bool) -> Result<Arc<ClientConfig>, Failure> {
    static CONFIGS: [OnceLock<Result<Arc<ClientConfig>, Failure>>; 4] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let cell = &CONFIGS[usize::from(verify) * 2 + usize::from(sni)];
    cell.get_or_init(|| {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let mut cfg = if verify {
            let roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            builder.with_root_certificates(roots).with_no_client_auth()
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
                .with_no_client_auth()
        };
        cfg.enable_sni = sni;
        Ok(Arc::new(cfg))
    })
    .clone()
}

/// Takes any certificate; checks the handshake signatures made with it.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// keepalived's `SSL { ca certificate key }`, read (PEM): the client
/// certificate chain and key SSL_GET presents, and the CA `verify` trusts
/// instead of the public roots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFiles {
    pub ca: Option<Vec<u8>>,
    pub chain: Option<Vec<u8>>,
    pub key: Option<Vec<u8>>,
}

/// A client config with `files` (built once per config by the caller).
pub fn client_config(verify: bool, sni: bool, files: &ClientFiles) -> Result<Arc<ClientConfig>, Failure> {
    use rustls::pki_types::PrivateKeyDer;
    use rustls::pki_types::pem::PemObject;
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = if verify {
        let roots = match &files.ca {
            Some(pem) => {
                let mut roots = RootCertStore::empty();
                for c in CertificateDer::pem_slice_iter(pem) {
                    let c = c.map_err(|e| format!("SSL ca: {e}"))?;
                    roots.add(c).map_err(|e| format!("SSL ca: {e}"))?;
                }
                roots
            }
            None => RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        };
        builder.with_root_certificates(roots)
    } else {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
    };
    let mut cfg = match (&files.chain, &files.key) {
        (Some(chain), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain)
                .collect::<Result<_, _>>()
                .map_err(|e| format!("SSL certificate: {e}"))?;
            if chain.is_empty() {
                return Err("SSL certificate: no certificate in the file".into());
            }
            if key.windows(9).any(|w| w == b"ENCRYPTED") {
                return Err("SSL key: encrypted (decrypt it: openssl pkey -in KEY -out KEY.plain)".into());
            }
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("SSL key: {e}"))?;
            builder.with_client_auth_cert(chain, key).map_err(|e| format!("SSL certificate and key: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("SSL: a certificate needs its key, and a key its certificate".into()),
    };
    cfg.enable_sni = sni;
    Ok(Arc::new(cfg))
}

/// A TLS client (for the updater's downloads too): `verify` checks the
/// certificate against the Mozilla roots; without it any certificate is
/// taken, its handshake signatures still checked.
pub fn connector(verify: bool) -> Result<TlsConnector, Failure> {
    Ok(TlsConnector::from(config(verify, true)?))
}

/// SSL_GET: every URL over its own TLS connection. The server name (sent
/// with `enable_sni`, and what a verified certificate must name) is
/// `virtualhost`, else the address.
pub async fn https(t: &Target, urls: &[UrlCheck], o: &Http<'_>) -> Result<(), Failure> {
    let (virtualhost, verify) = (o.virtualhost, o.verify);
    let connector = match o.client {
        Some(c) => TlsConnector::from(c.clone()),
        None => TlsConnector::from(config(verify, o.sni)?),
    };
    let name: ServerName<'static> = match virtualhost {
        Some(h) => ServerName::try_from(h.to_string()).map_err(|e| format!("virtualhost {h:?}: {e}"))?,
        None => ServerName::IpAddress(t.addr.ip().into()),
    };
    let host = virtualhost.map_or_else(|| t.addr.ip().to_string(), str::to_string);
    for u in urls {
        let tcp = connect(t).await?;
        let tls = within(t.timeout, "TLS handshake", async {
            connector.connect(name.clone(), tcp).await.map_err(|e| format!("TLS: {e}"))
        })
        .await?;
        let response = within(t.timeout, &format!("GET {}", u.path), exchange(tls, &u.path, &host, o.version)).await?;
        check_response(&response, u)?;
    }
    Ok(())
}
