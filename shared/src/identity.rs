//! Who the visitor is, as the host page says — and whether the site's backend vouched for it.
//!
//! The host page may pass the signed-in user to the widget (`data-user-*` on the script tag, or
//! `window.Baton.identify({...})`): `user_id`, `email`, `name`, `expires` and custom attributes
//! (`plan`, `role`, `workspace`…), every value a string. The site's backend signs them with a
//! per-site secret so a visitor cannot claim to be someone else:
//!
//! ```text
//! payload   = every field except "signature", sorted by name, as "name=value", joined by "\n"
//! signature = lowercase hex of HMAC-SHA256(secret, payload)
//! ```
//!
//! Names are `a-z`, `0-9`, `_` (starting with a letter) and values carry no control characters,
//! so the payload is unambiguous. With a valid signature the identity is *verified*: shown as
//! such to operators, and it may resume the user's conversations on another device. A wrong
//! signature (or an expired one) is refused (`identity_invalid`); a claim without one is refused
//! or kept as *unverified*, per `[identity] unsigned` in `baton.toml`.
//!
//! Host-page context (`window.Baton.setContext({...})`: the product feature, the document being
//! edited, the user's role there) follows the same shape rules, with tighter limits.
//!
//! The rules (shapes, the payload, the check, whose conversation an identity may touch) live
//! here; the worker only reads the secret and stores the events.

use crate::protocol::{quoted, ErrorBody, ErrorCode};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Fields one identity may carry (the four known ones and custom attributes together).
pub const MAX_IDENTITY_FIELDS: usize = 20;
/// Longest identity value, in bytes.
pub const MAX_IDENTITY_VALUE_BYTES: usize = 256;
/// Host-page context: at most this many fields…
pub const MAX_CONTEXT_FIELDS: usize = 10;
/// …of at most this many bytes each.
pub const MAX_CONTEXT_VALUE_BYTES: usize = 200;
/// Longest field name, in bytes.
pub const MAX_NAME_BYTES: usize = 40;

/// The fields with a meaning of their own; every other field is a custom attribute.
pub const USER_ID: &str = "user_id";
pub const EMAIL: &str = "email";
pub const NAME: &str = "name";
/// Unix seconds after which the signature is refused (optional; recommended).
pub const EXPIRES: &str = "expires";

/// What the host page says about its visitor (`identify` frames, `POST …/identity/resume`):
/// one flat JSON object, as `window.Baton.identify` takes it —
/// `{"user_id": "42", "email": …, "plan": "pro", "signature": "…"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityClaim {
    /// `user_id` (required), `email`, `name`, `expires` and custom attributes; strings only.
    #[serde(flatten)]
    pub fields: BTreeMap<String, String>,
    /// Lowercase hex HMAC-SHA256 of [`signing_payload`] under the site's identity secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// An identity as stored with a conversation and shown to operators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VisitorIdentity {
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Custom attributes (`plan`, `role`, …), by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The site's backend signed it (the signature matched); otherwise the host page only
    /// claimed it.
    pub verified: bool,
}

impl VisitorIdentity {
    /// How operators call this visitor: the name, else the email, else the user id.
    pub fn label(&self) -> &str {
        self.name.as_deref().or(self.email.as_deref()).unwrap_or(&self.user_id)
    }

    /// Every value, for the inbox search.
    pub fn search_words(&self) -> Vec<&str> {
        let mut v = vec![self.user_id.as_str()];
        v.extend(self.email.as_deref());
        v.extend(self.name.as_deref());
        v.extend(self.attributes.values().map(String::as_str));
        v
    }
}

/// What a site does with identities that carry no signature (`[identity] unsigned`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnsignedIdentity {
    /// Kept, and shown to operators as "unverified" (never used to resume conversations).
    #[default]
    Unverified,
    /// Refused with `identity_invalid`: the site signs every identity.
    Refuse,
}

fn invalid(field: &str, message: impl Into<String>) -> ErrorBody {
    ErrorBody { code: ErrorCode::IdentityInvalid, message: message.into(), field: Some(field.to_string()), retry_after: None }
}

/// A field name: a lowercase letter, then lowercase letters, digits or `_`.
pub fn is_field_name(name: &str) -> bool {
    (1..=MAX_NAME_BYTES).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Names, values and counts of a string map (`what` names it in errors: "identity", "context").
fn check_fields(
    what: &str,
    fields: &BTreeMap<String, String>,
    max_fields: usize,
    max_bytes: usize,
    error: fn(&str, String) -> ErrorBody,
) -> Result<(), ErrorBody> {
    if fields.len() > max_fields {
        return Err(error(what, format!("{what} has {} fields; at most {max_fields} are kept", fields.len())));
    }
    for (name, value) in fields {
        let key = format!("{what}.{name}");
        if !is_field_name(name) {
            return Err(error(
                &key,
                format!("{} is not a field name: use 1-{MAX_NAME_BYTES} of a-z, 0-9 and '_', starting with a letter", quoted(name)),
            ));
        }
        if value.len() > max_bytes {
            return Err(error(&key, format!("{name} is {} bytes; at most {max_bytes}", value.len())));
        }
        if value.chars().any(char::is_control) {
            return Err(error(&key, format!("{name} contains a control character (a line break?): send plain text")));
        }
    }
    Ok(())
}

impl IdentityClaim {
    /// Shape checks that need no secret: names, sizes, `user_id` present, `email` and `expires`
    /// well-formed, a signature that is hex. The widget runs them too, before sending.
    pub fn validate(&self) -> Result<(), ErrorBody> {
        check_fields("identity", &self.fields, MAX_IDENTITY_FIELDS, MAX_IDENTITY_VALUE_BYTES, |f, m| invalid(f, m))?;
        match self.fields.get(USER_ID) {
            Some(id) if !id.trim().is_empty() => {}
            _ => return Err(invalid("identity.user_id", "an identity needs user_id: your product's stable id for the user")),
        }
        if let Some(e) = self.fields.get(EMAIL) {
            if !is_email(e) {
                return Err(invalid("identity.email", format!("{} is not an email address", quoted(e))));
            }
        }
        if let Some(x) = self.fields.get(EXPIRES) {
            if x.is_empty() || x.len() > 12 || !x.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("identity.expires", "expires is a time in Unix seconds, e.g. \"1767225600\""));
            }
        }
        if let Some(s) = &self.signature {
            if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    "identity.signature",
                    "the signature is 64 hex digits: HMAC-SHA256 of the fields under the site's identity secret (docs/identity.md)",
                ));
            }
        }
        Ok(())
    }

    /// The identity as stored, with `verified` as given (after [`verify`] decided it).
    pub fn identity(&self, verified: bool) -> VisitorIdentity {
        let mut attributes = self.fields.clone();
        let user_id = attributes.remove(USER_ID).unwrap_or_default();
        let email = attributes.remove(EMAIL);
        let name = attributes.remove(NAME);
        attributes.remove(EXPIRES);
        VisitorIdentity { user_id, email, name, attributes, verified }
    }
}

/// A pragmatic email check: something@domain.tld, no spaces, at most 254 bytes. (Shared with
/// the forms' email fields, `conversation::is_email`, and linked by the widget.)
pub fn is_email(v: &str) -> bool {
    let Some((local, domain)) = v.split_once('@') else {
        return false;
    };
    v.len() <= 254
        && !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !v.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// The bytes the site's backend signs: `name=value` lines sorted by name, joined by `\n`.
pub fn signing_payload(fields: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Host-page context (`setContext`): at most `MAX_CONTEXT_FIELDS` string fields.
pub fn validate_context(context: &BTreeMap<String, String>) -> Result<(), ErrorBody> {
    check_fields("context", context, MAX_CONTEXT_FIELDS, MAX_CONTEXT_VALUE_BYTES, |f, m| ErrorBody::field(f, m))
}

/// Whether an identity may be set on a conversation that has `current`: one conversation, one
/// person. Once a user id is set, another user id is refused (sign-out ends the thread in that
/// browser; the next user starts their own). The same user may update the fields; an unsigned
/// claim never replaces a verified identity (`Ok(false)`: nothing to store).
pub fn may_identify(current: Option<&VisitorIdentity>, new: &VisitorIdentity) -> Result<bool, ErrorBody> {
    match current {
        None => Ok(true),
        Some(c) if c.user_id != new.user_id => Err(ErrorBody::new(
            ErrorCode::IdentityInvalid,
            "this conversation belongs to another user: start a new conversation for the signed-in user",
        )),
        Some(c) if c.verified && !new.verified => Ok(false),
        Some(c) => Ok(c != new),
    }
}

/// Whether an identity may resume (or erase, export) a conversation identified as `stored`:
/// only a verified identity of the same user, on a conversation whose identity was verified.
pub fn may_resume(stored: Option<&VisitorIdentity>, user_id: &str) -> Result<(), ErrorBody> {
    match stored {
        Some(s) if s.verified && s.user_id == user_id => Ok(()),
        _ => Err(ErrorBody::new(ErrorCode::UnknownConversation, "no conversation of this user here")),
    }
}

#[cfg(feature = "engine")]
mod check {
    use super::*;
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    fn mac(secret: &[u8], fields: &BTreeMap<String, String>) -> Hmac<Sha256> {
        let mut m = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        m.update(signing_payload(fields).as_bytes());
        m
    }

    /// The signature a site's backend computes (for `index-builder identity sign` and tests).
    pub fn sign(secret: &[u8], fields: &BTreeMap<String, String>) -> String {
        crate::protocol::hex(&mac(secret, fields).finalize().into_bytes())
    }

    fn unhex(s: &str) -> Option<Vec<u8>> {
        (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
    }

    /// Checks a claim: its shape, then the signature (constant-time) against `secret` (`None`:
    /// the site set no identity secret), then `expires` against `now_secs`. Unsigned claims
    /// follow the site's policy. Returns the identity to store.
    pub fn verify(
        claim: &IdentityClaim,
        secret: Option<&[u8]>,
        unsigned: UnsignedIdentity,
        secret_name: &str,
        now_secs: i64,
    ) -> Result<VisitorIdentity, ErrorBody> {
        claim.validate()?;
        let verified = match (&claim.signature, secret) {
            (None, _) if unsigned == UnsignedIdentity::Refuse => {
                return Err(invalid(
                    "identity.signature",
                    "this site accepts signed identities only: add the signature your backend computes (docs/identity.md)",
                ))
            }
            (None, _) => false,
            (Some(_), None) => {
                return Err(invalid(
                    "identity.signature",
                    format!(
                        "the site's identity secret is not set, so no signature can be checked: run `wrangler secret put {secret_name}`"
                    ),
                ))
            }
            (Some(sig), Some(key)) => {
                let given = unhex(sig).unwrap_or_default();
                if mac(key, &claim.fields).verify_slice(&given).is_err() {
                    return Err(invalid(
                        "identity.signature",
                        "the identity's signature does not match its fields: sign every field but \"signature\", sorted, as name=value lines (docs/identity.md)",
                    ));
                }
                true
            }
        };
        if let Some(x) = claim.fields.get(EXPIRES).and_then(|x| x.parse::<i64>().ok()) {
            if x <= now_secs {
                return Err(invalid("identity.expires", "the identity has expired: sign it again with a later expires"));
            }
        }
        Ok(claim.identity(verified))
    }
}

#[cfg(feature = "engine")]
pub use check::{sign, verify};

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn claim(pairs: &[(&str, &str)], signature: Option<String>) -> IdentityClaim {
        IdentityClaim { fields: fields(pairs), signature }
    }

    #[test]
    fn the_payload_is_sorted_name_value_lines() {
        let f = fields(&[("user_id", "42"), ("plan", "pro"), ("email", "ann@example.com"), ("name", "Ann")]);
        assert_eq!(signing_payload(&f), "email=ann@example.com\nname=Ann\nplan=pro\nuser_id=42");
        assert_eq!(signing_payload(&BTreeMap::new()), "");
    }

    #[test]
    fn shapes_are_checked_with_the_offending_field_named() {
        let field_of = |pairs: &[(&str, &str)]| claim(pairs, None).validate().unwrap_err().field.unwrap();
        assert!(claim(&[("user_id", "42"), ("plan", "pro")], None).validate().is_ok());
        assert_eq!(field_of(&[("email", "a@b.co")]), "identity.user_id");
        assert_eq!(field_of(&[("user_id", " ")]), "identity.user_id");
        assert_eq!(field_of(&[("user_id", "1"), ("email", "nope")]), "identity.email");
        assert_eq!(field_of(&[("user_id", "1"), ("Plan", "pro")]), "identity.Plan");
        assert_eq!(
            field_of(&[("user_id", "1"), ("plan", "pro\nuser_id=2")]),
            "identity.plan",
            "no line breaks: the payload stays unambiguous"
        );
        assert_eq!(field_of(&[("user_id", "1"), ("expires", "tomorrow")]), "identity.expires");
        let long = "x".repeat(MAX_IDENTITY_VALUE_BYTES + 1);
        assert_eq!(field_of(&[("user_id", &long)]), "identity.user_id");
        let bad_sig = claim(&[("user_id", "1")], Some("xyz".into())).validate().unwrap_err();
        assert_eq!((bad_sig.code, bad_sig.field.as_deref()), (ErrorCode::IdentityInvalid, Some("identity.signature")));
        let many: Vec<(String, String)> = (0..=MAX_IDENTITY_FIELDS).map(|i| (format!("a{i}"), "v".to_string())).collect();
        let c = IdentityClaim { fields: many.into_iter().chain([("user_id".into(), "1".into())]).collect(), signature: None };
        assert_eq!(c.validate().unwrap_err().field.as_deref(), Some("identity"));
    }

    #[test]
    fn known_fields_are_split_from_attributes() {
        let id = claim(&[("user_id", "42"), ("email", "a@b.co"), ("name", "Ann"), ("plan", "pro"), ("expires", "99")], None).identity(true);
        assert_eq!(id.user_id, "42");
        assert_eq!(id.email.as_deref(), Some("a@b.co"));
        assert_eq!(id.label(), "Ann");
        assert_eq!(id.attributes, fields(&[("plan", "pro")]), "expires is not an attribute");
        assert!(id.verified);
        assert_eq!(claim(&[("user_id", "42")], None).identity(false).label(), "42");
    }

    #[test]
    fn context_is_small_plain_strings() {
        assert!(validate_context(&fields(&[("feature", "editor"), ("document", "Pricing page")])).is_ok());
        assert!(validate_context(&BTreeMap::new()).is_ok());
        let e = validate_context(&fields(&[("Feature", "x")])).unwrap_err();
        assert_eq!((e.code, e.field.as_deref()), (ErrorCode::InvalidField, Some("context.Feature")));
        let long = "x".repeat(MAX_CONTEXT_VALUE_BYTES + 1);
        assert_eq!(validate_context(&fields(&[("doc", &long)])).unwrap_err().field.as_deref(), Some("context.doc"));
        let many: BTreeMap<String, String> = (0..=MAX_CONTEXT_FIELDS).map(|i| (format!("k{i}"), "v".into())).collect();
        assert!(validate_context(&many).is_err());
    }

    fn who(user: &str, verified: bool) -> VisitorIdentity {
        VisitorIdentity { user_id: user.into(), email: None, name: None, attributes: BTreeMap::new(), verified }
    }

    #[test]
    fn one_conversation_one_person() {
        assert_eq!(may_identify(None, &who("a", false)), Ok(true));
        assert_eq!(may_identify(Some(&who("a", false)), &who("a", true)), Ok(true), "verified later");
        assert_eq!(may_identify(Some(&who("a", true)), &who("a", true)), Ok(false), "nothing new");
        assert_eq!(may_identify(Some(&who("a", true)), &who("a", false)), Ok(false), "an unsigned claim never downgrades");
        let mut renamed = who("a", true);
        renamed.name = Some("Ann".into());
        assert_eq!(may_identify(Some(&who("a", true)), &renamed), Ok(true));
        assert_eq!(may_identify(Some(&who("a", false)), &who("b", false)).unwrap_err().code, ErrorCode::IdentityInvalid);
        assert!(may_resume(Some(&who("a", true)), "a").is_ok());
        assert!(may_resume(Some(&who("a", false)), "a").is_err(), "unverified claims never resume");
        assert!(may_resume(Some(&who("a", true)), "b").is_err());
        assert!(may_resume(None, "a").is_err());
    }

    #[cfg(feature = "engine")]
    #[test]
    fn signatures_verify_and_forgeries_are_refused() {
        let f = fields(&[("user_id", "42"), ("email", "ann@example.com"), ("name", "Ann"), ("plan", "pro")]);
        // Known vector, computed independently (Python: hmac.new(b"s3cret", payload, sha256)).
        let sig = sign(b"s3cret", &f);
        assert_eq!(sig, "eedee814f9b704d4ba427733a846b292f59ba11265dd8cc5d48ba106215bbe0c");
        let ok = IdentityClaim { fields: f.clone(), signature: Some(sig.clone()) };
        let id = verify(&ok, Some(b"s3cret"), UnsignedIdentity::Refuse, "S", 0).unwrap();
        assert!(id.verified);
        // Uppercase hex is the same signature.
        let upper = IdentityClaim { signature: Some(sig.to_uppercase()), ..ok.clone() };
        assert!(verify(&upper, Some(b"s3cret"), UnsignedIdentity::Refuse, "S", 0).is_ok());
        // Another secret, a changed field, an added field: refused.
        let refused = |c: &IdentityClaim, key: &[u8]| verify(c, Some(key), UnsignedIdentity::Unverified, "S", 0).unwrap_err();
        assert_eq!(refused(&ok, b"other").code, ErrorCode::IdentityInvalid);
        let mut tampered = ok.clone();
        tampered.fields.insert("plan".into(), "enterprise".into());
        assert_eq!(refused(&tampered, b"s3cret").field.as_deref(), Some("identity.signature"));
        let mut other_user = ok.clone();
        other_user.fields.insert("user_id".into(), "43".into());
        assert_eq!(refused(&other_user, b"s3cret").code, ErrorCode::IdentityInvalid);
        // No secret configured: a signature cannot be checked, and the message says what to set.
        let e = verify(&ok, None, UnsignedIdentity::Unverified, "BATON_IDENTITY_SECRET", 0).unwrap_err();
        assert!(e.message.contains("wrangler secret put BATON_IDENTITY_SECRET"), "{}", e.message);
        // Unsigned: per policy.
        let unsigned = IdentityClaim { fields: f.clone(), signature: None };
        assert!(!verify(&unsigned, Some(b"s3cret"), UnsignedIdentity::Unverified, "S", 0).unwrap().verified);
        assert_eq!(verify(&unsigned, Some(b"s3cret"), UnsignedIdentity::Refuse, "S", 0).unwrap_err().code, ErrorCode::IdentityInvalid);
        // Expiry is signed with the rest and checked against the clock.
        let mut exp = f.clone();
        exp.insert("expires".into(), "1000".into());
        let c = IdentityClaim { signature: Some(sign(b"s3cret", &exp)), fields: exp };
        assert!(verify(&c, Some(b"s3cret"), UnsignedIdentity::Refuse, "S", 999).is_ok());
        assert_eq!(
            verify(&c, Some(b"s3cret"), UnsignedIdentity::Refuse, "S", 1000).unwrap_err().field.as_deref(),
            Some("identity.expires")
        );
    }
}
