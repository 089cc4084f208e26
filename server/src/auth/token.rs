//! Signed tokens (HS256 JWTs, through `jsonwebtoken`): access tokens with a role and a
//! room, minted by `podium token` or by the application that embeds Podium, and share
//! tokens that open one recording. Both are checked here, on the server's own clock;
//! nothing a client sends is trusted before [`Keys::verify`] accepts it.
use super::secret::Secret;
use crate::recording::RecordingId;
use crate::name::validate_name;
use crate::room::RoomId;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;

/// The `room` claim of an admin: every room.
pub const ALL_ROOMS: &str = "*";

/// What a token's holder may do (docs/security.md has the table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Joins and publishes in one room.
    Guest,
    /// A guest who also records that room, and lists, views and shares its recordings.
    Host,
    /// Everything, in every room: the library, deleting, the debug dump.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Guest => "guest",
            Role::Host => "host",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role's name that is none of guest, host and admin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role \"{0}\": guest, host or admin")]
pub struct UnknownRole(String);

impl std::str::FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, UnknownRole> {
        match s {
            "guest" => Ok(Role::Guest),
            "host" => Ok(Role::Host),
            "admin" => Ok(Role::Admin),
            other => Err(UnknownRole(other.to_string())),
        }
    }
}

/// The room a token is for: one room, or every room (admins only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomGrant {
    One(RoomId),
    All,
}

impl RoomGrant {
    pub fn covers(&self, room: &str) -> bool {
        match self {
            RoomGrant::All => true,
            RoomGrant::One(id) => id.to_string() == room,
        }
    }
}

impl fmt::Display for RoomGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RoomGrant::All => f.write_str(ALL_ROOMS),
            RoomGrant::One(id) => id.fmt(f),
        }
    }
}

/// An access token's claims, as they travel (the JWT payload). Other registered claims
/// (`iat`, `nbf`, `iss`…) that an embedding application adds are allowed and ignored.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct AccessClaimsWire {
    sub: String,
    name: String,
    room: String,
    role: Role,
    exp: u64,
}

/// A share token's claims: which recording, which share (so it can be revoked), until when.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ShareClaimsWire {
    /// The share's id: revoking it ends every use of the token.
    shr: String,
    /// The recording it opens.
    rec: String,
    exp: u64,
}

/// A verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    /// The participant's identity, as the host application knows them.
    pub sub: String,
    /// The display name (validated like every name in a room).
    pub name: String,
    pub room: RoomGrant,
    pub role: Role,
    /// Seconds since the Unix epoch.
    pub exp: u64,
}

/// A verified share token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareClaims {
    pub share_id: String,
    pub recording: RecordingId,
    pub exp: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Access(AccessClaims),
    Share(ShareClaims),
}

impl Token {
    pub fn exp(&self) -> u64 {
        match self {
            Token::Access(c) => c.exp,
            Token::Share(c) => c.exp,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("this link has no access token: ask the host for a link")]
    Missing,
    #[error("the access token is not valid ({0}): ask the host for a new link")]
    Invalid(String),
    #[error("the access token's signature does not match: ask the host for a new link")]
    BadSignature,
    #[error("the access token expired: ask the host for a new link")]
    Expired { share: bool },
    #[error("the access token's claims are not valid: {0}")]
    BadClaims(String),
}

/// The share id alphabet and length: 12 characters of `[a-z0-9]`.
pub fn is_valid_share_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The server's signing keys.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl Keys {
    pub fn new(secret: &Secret) -> Self {
        Self { encoding: EncodingKey::from_secret(secret.bytes()), decoding: DecodingKey::from_secret(secret.bytes()) }
    }

    pub fn mint_access(&self, claims: &AccessClaims) -> String {
        let wire = AccessClaimsWire {
            sub: claims.sub.clone(),
            name: claims.name.clone(),
            room: claims.room.to_string(),
            role: claims.role,
            exp: claims.exp,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &wire, &self.encoding).expect("HS256 signing cannot fail")
    }

    pub fn mint_share(&self, claims: &ShareClaims) -> String {
        let wire = ShareClaimsWire { shr: claims.share_id.clone(), rec: claims.recording.to_string(), exp: claims.exp };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &wire, &self.encoding).expect("HS256 signing cannot fail")
    }

    /// Checks the signature (HS256 only: `none` and every other algorithm are refused),
    /// the expiry against `now` (seconds since the epoch), and the claims.
    pub fn verify(&self, token: &str, now: u64) -> Result<Token, TokenError> {
        if token.is_empty() {
            return Err(TokenError::Missing);
        }
        if token.len() > 4096 {
            return Err(TokenError::Invalid("longer than 4096 bytes".into()));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked below, so that an expired share link can be told apart.
        validation.validate_exp = false;
        validation.leeway = 0;
        validation.required_spec_claims = HashSet::from(["exp".to_string()]);
        validation.validate_aud = false;
        let data = jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &self.decoding, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::InvalidAlgorithm => TokenError::Invalid("only HS256 tokens are accepted".into()),
                ErrorKind::MissingRequiredClaim(c) => TokenError::BadClaims(format!("missing \"{c}\"")),
                _ => TokenError::Invalid(e.to_string()),
            }
        })?;
        let claims = serde_json::Value::Object(data.claims);
        let token = if claims.get("shr").is_some() {
            let wire: ShareClaimsWire = serde_json::from_value(claims).map_err(|e| TokenError::BadClaims(e.to_string()))?;
            Token::Share(share_claims(wire)?)
        } else {
            let wire: AccessClaimsWire = serde_json::from_value(claims).map_err(|e| TokenError::BadClaims(e.to_string()))?;
            Token::Access(access_claims(wire)?)
        };
        if token.exp() > LAST_EXP {
            return Err(TokenError::BadClaims("\"exp\" is past the year 9999".into()));
        }
        if token.exp() <= now {
            return Err(TokenError::Expired { share: matches!(token, Token::Share(_)) });
        }
        Ok(token)
    }
}

fn access_claims(wire: AccessClaimsWire) -> Result<AccessClaims, TokenError> {
    let sub = wire.sub.trim();
    if sub.is_empty() || sub.len() > 128 || sub.chars().any(char::is_control) {
        return Err(TokenError::BadClaims("\"sub\" is 1 to 128 characters, no control characters".into()));
    }
    let name = validate_name(&wire.name).map_err(|e| TokenError::BadClaims(format!("\"name\": {e}")))?;
    let room = match (wire.room.as_str(), wire.role) {
        (ALL_ROOMS, Role::Admin) => RoomGrant::All,
        (ALL_ROOMS, role) => return Err(TokenError::BadClaims(format!("a {role} token is for one room, not \"*\""))),
        (_, Role::Admin) => return Err(TokenError::BadClaims("an admin token's room is \"*\"".into())),
        (room, _) => RoomGrant::One(RoomId::parse(room).map_err(|e| TokenError::BadClaims(format!("\"room\": {e}")))?),
    };
    Ok(AccessClaims { sub: sub.to_string(), name, room, role: wire.role, exp: wire.exp })
}

fn share_claims(wire: ShareClaimsWire) -> Result<ShareClaims, TokenError> {
    if !is_valid_share_id(&wire.shr) {
        return Err(TokenError::BadClaims("\"shr\" is not a share id".into()));
    }
    let recording = RecordingId::parse(&wire.rec).map_err(|e| TokenError::BadClaims(format!("\"rec\": {e}")))?;
    Ok(ShareClaims { share_id: wire.shr, recording, exp: wire.exp })
}

/// 9999-12-31T23:59:59Z: the last expiry an RFC 3339 date (and a person) can read.
const LAST_EXP: u64 = 253_402_300_799;

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// RFC 3339 in UTC, for `expires_at` fields.
pub fn rfc3339(unix: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(unix).unwrap_or(i64::MAX)).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const NOW: u64 = 1_800_000_000;

    fn keys() -> Keys {
        Keys::new(&Secret::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap())
    }

    fn host(room: &str) -> AccessClaims {
        AccessClaims { sub: "u-1".into(), name: "Ada".into(), room: RoomGrant::One(RoomId::parse(room).unwrap()), role: Role::Host, exp: NOW + 60 }
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn an_access_token_round_trips() {
        let k = keys();
        let token = k.mint_access(&host("standup"));
        assert_eq!(k.verify(&token, NOW).unwrap(), Token::Access(host("standup")));
    }

    #[test]
    fn a_share_token_round_trips_and_is_not_an_access_token() {
        let k = keys();
        let claims = ShareClaims { share_id: "abcdef123456".into(), recording: RecordingId::parse("20261203-101500-abcdef").unwrap(), exp: NOW + 5 };
        let token = k.mint_share(&claims);
        assert_eq!(k.verify(&token, NOW).unwrap(), Token::Share(claims));
    }

    #[test]
    fn expiry_is_checked_on_the_servers_clock() {
        let k = keys();
        let token = k.mint_access(&host("standup"));
        assert!(k.verify(&token, NOW + 59).is_ok());
        assert_eq!(k.verify(&token, NOW + 60).unwrap_err(), TokenError::Expired { share: false });
        let share = k.mint_share(&ShareClaims { share_id: "abcdef123456".into(), recording: RecordingId::parse("20261203-101500-abcdef").unwrap(), exp: NOW });
        assert_eq!(k.verify(&share, NOW).unwrap_err(), TokenError::Expired { share: true });
    }

    #[test]
    fn an_expiry_no_date_can_show_is_refused() {
        // u64::MAX once showed as "expires 1970" with a cookie of 584 billion years.
        let k = keys();
        for exp in [u64::MAX, LAST_EXP + 1] {
            let token = k.mint_access(&AccessClaims { exp, ..host("standup") });
            assert!(matches!(k.verify(&token, NOW), Err(TokenError::BadClaims(m)) if m.contains("9999")));
        }
        let token = k.mint_access(&AccessClaims { exp: LAST_EXP, ..host("standup") });
        assert_eq!(rfc3339(k.verify(&token, NOW).unwrap().exp()), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn another_secret_or_a_tampered_payload_is_refused() {
        let token = keys().mint_access(&host("standup"));
        let other = Keys::new(&Secret::new(b"another-secret-of-at-least-32-bytes!".to_vec()).unwrap());
        assert_eq!(other.verify(&token, NOW).unwrap_err(), TokenError::BadSignature);
        // Promote the guest to admin of every room, keeping the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = b64(format!(r#"{{"sub":"u-1","name":"Ada","room":"*","role":"admin","exp":{}}}"#, NOW + 60).as_bytes());
        assert_eq!(keys().verify(&parts.join("."), NOW).unwrap_err(), TokenError::BadSignature);
    }

    #[test]
    fn the_none_algorithm_and_other_algorithms_are_refused() {
        let payload = b64(format!(r#"{{"sub":"u","name":"Eve","room":"*","role":"admin","exp":{}}}"#, NOW + 60).as_bytes());
        for header in [r#"{"alg":"none","typ":"JWT"}"#, r#"{"alg":"HS512","typ":"JWT"}"#, r#"{"alg":"RS256","typ":"JWT"}"#] {
            let token = format!("{}.{payload}.", b64(header.as_bytes()));
            assert!(keys().verify(&token, NOW).is_err(), "{header} accepted");
        }
        for junk in ["", "a.b.c", "not a token", "..", &"x".repeat(5000)] {
            assert!(keys().verify(junk, NOW).is_err(), "{junk:?} accepted");
        }
    }

    #[test]
    fn claims_are_validated() {
        let k = keys();
        let sign = |json: String| jsonwebtoken::encode(&Header::new(Algorithm::HS256), &serde_json::from_str::<serde_json::Value>(&json).unwrap(), &k.encoding).unwrap();
        let exp = NOW + 60;
        for (json, why) in [
            (format!(r#"{{"sub":"u","name":"Ada","room":"*","role":"host","exp":{exp}}}"#), "\"*\""),
            (format!(r#"{{"sub":"u","name":"Ada","room":"standup","role":"admin","exp":{exp}}}"#), "admin"),
            (format!(r#"{{"sub":"u","name":"Ada","room":"../etc","role":"guest","exp":{exp}}}"#), "room"),
            (format!(r#"{{"sub":"u","name":"","room":"standup","role":"guest","exp":{exp}}}"#), "name"),
            (format!(r#"{{"sub":"u","name":"Ada","room":"standup","role":"owner","exp":{exp}}}"#), "owner"),
            (r#"{"sub":"u","name":"Ada","room":"standup","role":"guest"}"#.to_string(), "exp"),
            (format!(r#"{{"shr":"../../x","rec":"20261203-101500-abcdef","exp":{exp}}}"#), "shr"),
            (format!(r#"{{"shr":"abcdef123456","rec":"../secret","exp":{exp}}}"#), "rec"),
        ] {
            let err = k.verify(&sign(json.clone()), NOW).unwrap_err();
            assert!(err.to_string().contains(why), "{json}: {err}");
        }
        // Extra registered claims from an embedding application are fine.
        let ok = sign(format!(r#"{{"sub":"u","name":" Ada ","room":"standup","role":"guest","exp":{exp},"iat":{NOW},"iss":"app"}}"#));
        let Token::Access(c) = k.verify(&ok, NOW).unwrap() else { panic!("not access") };
        assert_eq!((c.name.as_str(), c.role), ("Ada", Role::Guest));
    }

    /// Fuzzing, bounded: no token text makes verification panic or pass unsigned.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

            #[test]
            fn arbitrary_text_is_refused_without_panicking(text in ".{0,400}") {
                prop_assert!(keys().verify(&text, NOW).is_err());
            }

            #[test]
            fn arbitrary_headers_and_claims_without_the_signature_are_refused(header in ".{0,80}", payload in ".{0,200}", sig in "[A-Za-z0-9_-]{0,64}") {
                let token = format!("{}.{}.{sig}", b64(header.as_bytes()), b64(payload.as_bytes()));
                prop_assert!(keys().verify(&token, NOW).is_err());
            }

            #[test]
            fn signed_claims_of_any_shape_never_panic(room in ".{0,70}", name in ".{0,50}", role in "[a-z]{0,8}", sub in ".{0,140}", exp in any::<u64>()) {
                let k = keys();
                let claims = serde_json::json!({"sub": sub, "name": name, "room": room, "role": role, "exp": exp});
                let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &k.encoding).unwrap();
                if let Ok(Token::Access(c)) = k.verify(&token, NOW) {
                    prop_assert!(c.exp > NOW);
                    prop_assert!(crate::name::validate_name(&c.name).is_ok());
                }
            }
        }
    }
}
