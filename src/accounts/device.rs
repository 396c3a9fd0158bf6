//! Device cookies (OWASP, "Slow Down Online Guessing Attacks with Device Cookies"): a client
//! that signs in as an account gets a cookie naming a random device id, signed with an HMAC
//! over that account's email. Presented at a later login for the same email, it gives the
//! client its own allowance of failures (`login_throttle.max_failures_per_device`), so that a
//! stranger exhausting the email's allowance for unknown clients cannot lock the owner out of
//! a browser or app they have used before.
//!
//! The cookie holds no email and nothing else to look up: `v1.{issued unix seconds}.{device
//! id}.{mac}`, where the MAC covers the email, the issue time and the id. A cookie for another
//! email, a forged or altered one, and one older than `device_cookie_max_age_days` count as no
//! cookie.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::model::Email;
use crate::config::LoginThrottleSettings;

/// The cookie's name; it is sent only to `/api/v1` paths.
pub const DEVICE_COOKIE: &str = "tonggan_device";

fn mac(settings: &LoginThrottleSettings, email: &Email, issued: i64, device: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(settings.device_cookie_secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(format!("device-v1\n{}\n{issued}\n{device}", email.as_str()).as_bytes());
    mac
}

/// A new device cookie value for a client that just signed in as `email`.
pub fn issue(settings: &LoginThrottleSettings, email: &Email, now: i64) -> String {
    let mut id = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut id);
    let device = URL_SAFE_NO_PAD.encode(id);
    let tag = URL_SAFE_NO_PAD.encode(mac(settings, email, now, &device).finalize().into_bytes());
    format!("v1.{now}.{device}.{tag}")
}

/// The device id in `cookie` if it was issued by us, for this email, and is not too old.
pub fn verify<'c>(settings: &LoginThrottleSettings, cookie: &'c str, email: &Email, now: i64) -> Option<&'c str> {
    let mut parts = cookie.split('.');
    let (Some("v1"), Some(issued), Some(device), Some(tag), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let issued: i64 = issued.parse().ok()?;
    let max_age = i64::try_from(settings.device_cookie_max_age_days).ok()?.saturating_mul(86_400);
    if issued > now + 300 || now.saturating_sub(issued) > max_age || device.len() != 22 {
        return None;
    }
    let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
    mac(settings, email, issued, device).verify_slice(&tag).ok()?;
    Some(device)
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn settings() -> LoginThrottleSettings {
        LoginThrottleSettings {
            window_secs: 900,
            max_failures_per_email: 5,
            max_failures_per_client: 30,
            max_failures_per_device: 5,
            device_cookie_secret: SecretString::from("a-test-key-of-some-length-0123456789"),
            device_cookie_max_age_days: 180,
        }
    }

    #[test]
    fn a_cookie_is_valid_only_for_its_email_its_key_and_its_age() {
        let s = settings();
        let email = Email::parse("li.wei@example.cn").unwrap();
        let other = Email::parse("wang.fang@example.cn").unwrap();
        let now = 1_800_000_000;
        let cookie = issue(&s, &email, now);
        let device = verify(&s, &cookie, &email, now + 10).expect("valid for its email");
        assert_eq!(device.len(), 22);
        assert_eq!(verify(&s, &cookie, &other, now), None, "another email");
        assert_eq!(verify(&s, &cookie, &email, now + 181 * 86_400), None, "too old");
        let mut rekeyed = settings();
        rekeyed.device_cookie_secret = SecretString::from("another-key-entirely-0123456789abcd");
        assert_eq!(verify(&rekeyed, &cookie, &email, now), None, "another key");
        let tampered = cookie.replacen(&format!("v1.{now}."), &format!("v1.{}.", now + 1), 1);
        assert_eq!(verify(&s, &tampered, &email, now), None, "altered issue time");
        assert_eq!(verify(&s, "v1.1.2.3", &email, now), None);
        assert_eq!(verify(&s, "", &email, now), None);
        assert_eq!(verify(&s, &format!("{cookie}.x"), &email, now), None);
    }
}
