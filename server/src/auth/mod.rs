//! Access control. A request or a signaling socket is made by an [`Access`]: open mode
//! (no secret, loopback only: everything is allowed, as on a developer's machine), the
//! holder of an access token (a role in a room), or the holder of a share link (one
//! recording). The rules of who may do what live here, on [`Access`], so that every
//! route asks the same question the same way; docs/security.md has the table.
pub mod secret;
pub mod token;

pub use secret::{Secret, SecretError};
pub use token::{AccessClaims, Keys, Role, RoomGrant, ShareClaims, Token, TokenError};

use crate::recording::RecordingId;
use crate::room::RoomId;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// No secret is configured and the server listens on loopback only.
    Open,
    User(AccessClaims),
    Share(ShareClaims),
}

/// Who a per-client pace counts: the client's address (an IPv6 /64 as one,
/// `net::counted_as`) and, with an access token, its subject. Behind one reverse proxy
/// or office NAT every client has the same address: with their own links, people are
/// paced apart there, and one link is paced however often it reconnects.
pub type PaceKey = (std::net::IpAddr, Option<String>);

impl Access {
    pub fn pace_key(&self, ip: std::net::IpAddr) -> PaceKey {
        let subject = match self {
            Access::User(claims) => Some(claims.sub.clone()),
            Access::Open | Access::Share(_) => None,
        };
        (crate::net::counted_as(ip), subject)
    }
}

/// A valid credential without the grant for what it asked: a 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

/// A `sub` as the audit log writes it: quoted and escaped. The token's issuer chose it,
/// so it may hold spaces and `=`; unquoted, `sub=x role=admin ip=10.0.0.1` would pass
/// for fields of the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditSub(pub String);

impl std::fmt::Display for AuditSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Which recordings a library listing shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Library {
    All,
    Room(RoomId),
}

impl Access {
    /// The role this access acts with (open mode acts as an admin).
    pub fn role(&self) -> Option<Role> {
        match self {
            Access::Open => Some(Role::Admin),
            Access::User(c) => Some(c.role),
            Access::Share(_) => None,
        }
    }

    /// Who, for the audit log: the token's `sub`, `open`, or the share's id.
    pub fn audit_sub(&self) -> AuditSub {
        AuditSub(match self {
            Access::Open => "open".into(),
            Access::User(c) => c.sub.clone(),
            Access::Share(s) => format!("share:{}", s.share_id),
        })
    }

    /// The role, for the audit log.
    pub fn audit_role(&self) -> &'static str {
        match self {
            Access::Open => "open",
            Access::User(c) => c.role.as_str(),
            Access::Share(_) => "share",
        }
    }

    /// The name a participant is shown with: the token's, never the client's (secured
    /// mode). `None` in open mode, where the join message names the participant.
    pub fn trusted_name(&self) -> Option<&str> {
        match self {
            Access::User(c) => Some(&c.name),
            Access::Open | Access::Share(_) => None,
        }
    }

    fn user_in(&self, room: &str) -> Option<&AccessClaims> {
        match self {
            Access::User(c) if c.room.covers(room) => Some(c),
            _ => None,
        }
    }

    fn other_room(&self, room: &str) -> Denied {
        match self {
            Access::User(c) => Denied(format!("your link is for room {}, not {room}", c.room)),
            _ => Denied("a share link opens only its recording".into()),
        }
    }

    /// Join and publish in `room`, and see who is in it.
    pub fn may_join(&self, room: &RoomId) -> Result<(), Denied> {
        match self {
            Access::Open => Ok(()),
            _ => self.user_in(&room.to_string()).map(|_| ()).ok_or_else(|| self.other_room(&room.to_string())),
        }
    }

    /// Start, stop and change `room`'s recordings.
    pub fn may_record(&self, room: &RoomId) -> Result<(), Denied> {
        self.host_of(&room.to_string(), "only a host can record this meeting")
    }

    /// Remove a participant from `room`.
    pub fn may_remove_participant(&self, room: &RoomId) -> Result<(), Denied> {
        self.host_of(&room.to_string(), "only a host can remove a participant")
    }

    /// Share a recording of `room` and revoke its shares.
    pub fn may_share(&self, room: &str) -> Result<(), Denied> {
        self.host_of(room, "only a host of the room can share its recordings")
    }

    fn host_of(&self, room: &str, why: &str) -> Result<(), Denied> {
        match self {
            Access::Open => Ok(()),
            Access::User(_) => match self.user_in(room) {
                Some(c) if c.role >= Role::Host => Ok(()),
                Some(_) => Err(Denied(format!("{why}: your link is a guest's"))),
                None => Err(self.other_room(room)),
            },
            Access::Share(_) => Err(Denied(format!("{why}: a share link only plays its recording"))),
        }
    }

    /// The recordings library: every recording for an admin, one room's for its host.
    pub fn library(&self) -> Result<Library, Denied> {
        match self {
            Access::Open => Ok(Library::All),
            Access::User(c) => match (&c.room, c.role) {
                (RoomGrant::All, _) => Ok(Library::All),
                (RoomGrant::One(room), Role::Host | Role::Admin) => Ok(Library::Room(room.clone())),
                (RoomGrant::One(_), Role::Guest) => Err(Denied("only a host can see the recordings: your link is a guest's".into())),
            },
            Access::Share(_) => Err(Denied("a share link opens only its recording".into())),
        }
    }

    /// Play recording `id` of `room`: its video, timeline, captions and reel.
    pub fn may_view_recording(&self, id: &RecordingId, room: &str) -> Result<(), Denied> {
        match self {
            Access::Share(s) if s.recording == *id => Ok(()),
            Access::Share(_) => Err(Denied("this share link opens another recording".into())),
            _ => self.host_of(room, "only a host of the room can see its recordings"),
        }
    }

    /// Whether this access could view recording `id` at all, before its room is known:
    /// a guest or another recording's share link is refused without reading the disk
    /// (so they cannot tell which recordings exist).
    pub fn may_view_some_recording(&self, id: &RecordingId) -> Result<(), Denied> {
        match self {
            Access::Open => Ok(()),
            Access::Share(s) if s.recording == *id => Ok(()),
            Access::Share(_) => Err(Denied("this share link opens another recording".into())),
            Access::User(c) if c.role >= Role::Host => Ok(()),
            Access::User(_) => Err(Denied("only a host can see the recordings: your link is a guest's".into())),
        }
    }

    /// Whether this access may learn that recording `id` of `room` exists. A host of
    /// another room may not: it is told "no recording", as for an id that does not
    /// exist, so that ids cannot be probed (nor a recording's room read off a refusal)
    /// across rooms.
    pub fn may_know_of_recording(&self, id: &RecordingId, room: &str) -> bool {
        match self {
            Access::Open => true,
            Access::Share(s) => s.recording == *id,
            Access::User(c) => c.room.covers(room),
        }
    }

    /// Whether this access may be told that a recording's files are damaged (its room
    /// cannot be read, so only those who see every room are told).
    pub fn may_know_of_damage(&self) -> bool {
        self.library() == Ok(Library::All)
    }

    /// Delete recordings, list every room, read the debug dump.
    pub fn may_administer(&self, what: &str) -> Result<(), Denied> {
        match self {
            Access::Open => Ok(()),
            Access::User(c) if c.role == Role::Admin => Ok(()),
            _ => Err(Denied(format!("only an admin can {what}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(role: Role, room: &str) -> Access {
        let room = if room == "*" { RoomGrant::All } else { RoomGrant::One(RoomId::parse(room).unwrap()) };
        Access::User(AccessClaims { sub: "s".into(), name: "N".into(), room, role, exp: u64::MAX })
    }

    #[test]
    fn an_audit_sub_cannot_pass_for_other_fields() {
        let Access::User(mut claims) = user(Role::Guest, "a") else { unreachable!() };
        claims.sub = "mallory role=admin ip=10.0.0.1 \"x".into();
        let line = format!("sub={} role={}", Access::User(claims.clone()).audit_sub(), Access::User(claims).audit_role());
        assert_eq!(line, r#"sub="mallory role=admin ip=10.0.0.1 \"x" role=guest"#);
        assert_eq!(Access::Open.audit_sub().to_string(), "\"open\"");
    }

    #[test]
    fn roles_follow_the_table() {
        let a = RoomId::parse("a").unwrap();
        let b = RoomId::parse("b").unwrap();
        let rec = RecordingId::parse("20261203-101500-abcdef").unwrap();
        let other = RecordingId::parse("20261203-101500-zzzzzz").unwrap();
        let guest = user(Role::Guest, "a");
        let host = user(Role::Host, "a");
        let admin = user(Role::Admin, "*");
        let share = Access::Share(ShareClaims { share_id: "abcdef123456".into(), recording: rec.clone(), exp: u64::MAX });

        assert!(guest.may_join(&a).is_ok() && guest.may_join(&b).is_err());
        assert!(guest.may_record(&a).unwrap_err().0.contains("guest"));
        assert!(guest.library().is_err() && guest.may_view_recording(&rec, "a").is_err());

        assert!(host.may_record(&a).is_ok() && host.may_record(&b).unwrap_err().0.contains("room a"));
        assert_eq!(host.library().unwrap(), Library::Room(a.clone()));
        assert!(host.may_view_recording(&rec, "a").is_ok() && host.may_view_recording(&rec, "b").is_err());
        assert!(host.may_share("a").is_ok() && host.may_share("b").is_err());
        assert!(host.may_administer("delete").is_err());

        assert!(admin.may_record(&b).is_ok() && admin.library().unwrap() == Library::All && admin.may_administer("delete").is_ok());

        assert!(host.may_know_of_recording(&rec, "a") && !host.may_know_of_recording(&rec, "b"));
        assert!(!host.may_know_of_damage() && admin.may_know_of_damage() && Access::Open.may_know_of_damage());
        assert!(share.may_know_of_recording(&rec, "b") && !share.may_know_of_recording(&other, "a"));

        assert!(share.may_view_recording(&rec, "a").is_ok());
        assert!(share.may_view_recording(&other, "a").is_err());
        assert!(share.may_join(&a).is_err() && share.may_share("a").is_err() && share.library().is_err() && share.may_administer("delete").is_err());

        assert!(Access::Open.may_record(&a).is_ok() && Access::Open.may_administer("x").is_ok());
        assert_eq!(Access::Open.trusted_name(), None);
        assert_eq!(host.trusted_name(), Some("N"));
    }
}
