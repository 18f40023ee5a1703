//! Credential parsing: access-token verification and the prefix, length and checksum checks
//! every presented key, secret and refresh token goes through never panic; a string that
//! one family calls well formed is claimed by no other.
#![no_main]

use jekcms_auth::credential::CredentialFamily;
use jekcms_auth::{AccessTokens, access};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::Duration;

fn tokens() -> &'static AccessTokens {
    static TOKENS: OnceLock<AccessTokens> = OnceLock::new();
    TOKENS.get_or_init(|| AccessTokens::new(&[9; 32], Duration::from_secs(900)))
}

fuzz_target!(|presented: &str| {
    let _ = tokens().verify(presented);
    let _ = access::wrong_family(presented);
    let detected = CredentialFamily::detect(presented);
    for family in CredentialFamily::ALL {
        if family.is_well_formed(presented) {
            assert_eq!(detected, Some(family), "{presented:?}");
        }
    }
    let hash = jekcms_auth::SecretHash::of(presented);
    assert!(hash.matches(presented));
});
