//! Where a webhook may point (API.md §10): `https://` only (plain `http://` when
//! `JEKCMS_WEBHOOK_ALLOW_INSECURE=true`), and never at an address that is not public —
//! loopback, private, link-local, unique-local, CGNAT, multicast, unspecified, reserved, or
//! one of those inside an IPv6 form (IPv4-mapped, NAT64, 6to4) — unless
//! `JEKCMS_WEBHOOK_ALLOW_PRIVATE=true`.
//!
//! A URL is checked when it is saved, and every address its host resolves to is checked
//! again when a delivery connects ([`crate::sender`] resolves through [`TargetPolicy`] and
//! connects only to the addresses that passed), so a name that later resolves to an
//! internal address (DNS rebinding) reaches nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::{Host, Url};

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2000;

/// How long a host name may take to resolve.
pub const RESOLVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The deployment's two switches for development and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// `JEKCMS_WEBHOOK_ALLOW_INSECURE`: `http://` URLs too.
    pub allow_insecure: bool,
    /// `JEKCMS_WEBHOOK_ALLOW_PRIVATE`: non-public addresses too.
    pub allow_private: bool,
}

/// Why a URL or an address is refused; the message is safe to show the site's owner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl TargetPolicy {
    /// The URL's form: absolute, `https` (or `http` when allowed), a host, no credentials,
    /// no fragment, at most [`MAX_URL_LEN`] bytes. An IP-literal host is checked here too;
    /// a name is checked by [`TargetPolicy::resolve`].
    pub fn parse(&self, raw: &str) -> Result<Url, Refused> {
        if raw.len() > MAX_URL_LEN {
            return Err(Refused(format!("url must be at most {MAX_URL_LEN} bytes")));
        }
        let url = Url::parse(raw).map_err(|e| Refused(format!("url is not a valid URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_insecure => {}
            "http" => {
                return Err(Refused(
                    "url must use https:// (http:// is allowed only with JEKCMS_WEBHOOK_ALLOW_INSECURE=true)".into(),
                ));
            }
            other => return Err(Refused(format!("url must use https://, not {other}:"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused("url must not contain credentials".into()));
        }
        if url.fragment().is_some() {
            return Err(Refused("url must not contain a fragment".into()));
        }
        match url.host() {
            None => return Err(Refused("url must name a host".into())),
            Some(Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip))?,
            Some(Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip))?,
            Some(Host::Domain(_)) => {}
        }
        Ok(url)
    }

    /// [`TargetPolicy::parse`], then the host resolved and every address checked: what a
    /// URL must pass to be saved.
    pub async fn check(&self, raw: &str) -> Result<Url, Refused> {
        let url = self.parse(raw)?;
        if let Some(Host::Domain(name)) = url.host() {
            self.resolve(name).await?;
        }
        Ok(url)
    }

    /// The addresses `name` resolves to (port 0), all of them allowed; an error if it does
    /// not resolve or if any address is refused (one bad address refuses the name: a
    /// connection might pick it).
    pub async fn resolve(&self, name: &str) -> Result<Vec<SocketAddr>, Refused> {
        // An IPv6 literal reaches a resolver in brackets.
        let bare = name.trim_start_matches('[').trim_end_matches(']');
        let unresolved = || Refused(format!("url's host {name} does not resolve"));
        let addrs: Vec<SocketAddr> =
            tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((bare, 0)))
                .await
                .map_err(|_| Refused(format!("url's host {name} did not resolve in time")))?
                .map_err(|_| unresolved())?
                .collect();
        if addrs.is_empty() {
            return Err(unresolved());
        }
        // The address itself is not named: the owner learns that the name is internal, not
        // what the deployment's resolver answers for it.
        for addr in &addrs {
            self.check_ip(addr.ip()).map_err(|Refused(why)| {
                Refused(format!(
                    "url's host {name} resolves to a non-public address: {why}"
                ))
            })?;
        }
        Ok(addrs)
    }

    /// Whether deliveries may connect to `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Refused> {
        if self.allow_private {
            return Ok(());
        }
        match non_public(ip) {
            None => Ok(()),
            Some(kind) => Err(Refused(format!(
                "{kind} addresses are refused (allowed only with JEKCMS_WEBHOOK_ALLOW_PRIVATE=true)"
            ))),
        }
    }
}

/// What kind of non-public address `ip` is; `None` for a public one.
pub fn non_public(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => non_public_v4(v4),
        IpAddr::V6(v6) => non_public_v6(v6),
    }
}

fn non_public_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, _, _) => "unspecified",
        (127, _, _) => "loopback",
        (10, _, _) => "private",
        (172, 16..=31, _) => "private",
        (192, 168, _) => "private",
        (169, 254, _) => "link-local",
        (100, 64..=127, _) => "shared (CGNAT)",
        (192, 0, 0) => "IETF protocol",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation",
        (198, 18..=19, _) => "benchmarking",
        (224..=239, _, _) => "multicast",
        (240..=255, _, _) => "reserved",
        _ => return None,
    })
}

fn non_public_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    // IPv4 inside IPv6: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::),
    // 6to4 (2002:AABB:CCDD::): the embedded address decides.
    let embedded = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    if s[..5] == [0; 5] && (s[5] == 0xffff || s[5] == 0) {
        return non_public_v4(embedded(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return non_public_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return non_public_v4(embedded(s[1], s[2]));
    }
    Some(match s[0] {
        x if x & 0xfe00 == 0xfc00 => "unique-local",
        x if x & 0xffc0 == 0xfe80 => "link-local",
        x if x & 0xffc0 == 0xfec0 => "site-local",
        x if x & 0xff00 == 0xff00 => "multicast",
        0x2001 if s[1] == 0x0db8 => "documentation",
        0x0100 if s[1..4] == [0, 0, 0] => "discard-only",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STRICT: TargetPolicy = TargetPolicy {
        allow_insecure: false,
        allow_private: false,
    };

    #[test]
    fn non_public_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(non_public(ip).is_some(), "{ip} is not public");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(non_public(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn urls_need_https_a_host_and_no_credentials() {
        assert!(STRICT.parse("https://example.com/hook").is_ok());
        assert!(
            STRICT
                .parse("http://example.com/hook")
                .unwrap_err()
                .0
                .contains("https")
        );
        let insecure = TargetPolicy {
            allow_insecure: true,
            ..STRICT
        };
        assert!(insecure.parse("http://example.com/hook").is_ok());
        for bad in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#x",
            "not a url",
            "https://10.0.0.1/",
            "https://[::1]/",
            "https://[fd00::1]:8443/",
            "https://169.254.169.254/latest/meta-data",
        ] {
            assert!(STRICT.parse(bad).is_err(), "{bad}");
        }
        let private = TargetPolicy {
            allow_private: true,
            ..STRICT
        };
        assert!(private.parse("https://10.0.0.1/").is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let refused = STRICT.check("https://localhost/hook").await.unwrap_err();
        assert!(refused.0.contains("loopback"), "{refused}");
        let private = TargetPolicy {
            allow_private: true,
            ..STRICT
        };
        assert!(private.check("https://localhost/hook").await.is_ok());
    }
}
