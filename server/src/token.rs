//! `podium token`: mints an access token with the server's secret and prints a ready
//! link (docs/security.md). The host application can mint the same tokens itself: they
//! are HS256 JWTs with the claims of [`crate::auth::token`].
use crate::auth::{AccessClaims, Keys, Role, RoomGrant, Secret};
use crate::cli::TokenArgs;
use crate::name::validate_name;
use crate::room::RoomId;
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Link {
    pub url: String,
    pub token: String,
    pub expires_at: String,
}

pub fn run(args: &TokenArgs) -> Result<()> {
    let secret = Secret::load(std::env::var("PODIUM_SECRET").ok(), args.secret_file.as_deref())?
        .ok_or_else(|| anyhow!("no secret: set PODIUM_SECRET (32+ bytes) or --secret-file, the same one `podium serve` uses"))?;
    let link = mint(args, &secret, crate::auth::token::unix_now())?;
    if args.json {
        println!("{}", serde_json::to_string(&link).context("printing JSON")?);
    } else {
        println!("{}", link.url);
    }
    Ok(())
}

/// The link of `args`, signed with `secret`, valid from `now` (seconds since the epoch).
pub fn mint(args: &TokenArgs, secret: &Secret, now: u64) -> Result<Link> {
    let role: Role = args.role.parse()?;
    let room = match (role, args.room.as_deref()) {
        (Role::Admin, None | Some("*")) => RoomGrant::All,
        (Role::Admin, Some(_)) => bail!("an admin token covers every room: leave out --room"),
        (_, None) => bail!("--room is required for a {role} token"),
        (_, Some(room)) => RoomGrant::One(RoomId::parse(room).map_err(|e| anyhow!("--room: {e}"))?),
    };
    let name = match (&args.name, role) {
        (Some(name), _) => validate_name(name).map_err(|e| anyhow!("--name: {e}"))?,
        (None, Role::Admin) => "Admin".to_string(),
        (None, _) => bail!("--name is required: the name people see in the room and in recordings"),
    };
    let sub = match &args.sub {
        Some(sub) if !sub.trim().is_empty() && sub.len() <= 128 && !sub.chars().any(char::is_control) => sub.trim().to_string(),
        Some(_) => bail!("--sub is 1 to 128 characters, no control characters"),
        None => uuid::Uuid::new_v4().to_string(),
    };
    let exp = now + args.ttl;
    let claims = AccessClaims { sub, name, room: room.clone(), role, exp };
    let token = Keys::new(secret).mint_access(&claims);
    let url = match room {
        RoomGrant::All => format!("{}/recordings?token={token}", args.url),
        RoomGrant::One(room) => format!("{}/rooms/{room}?token={token}", args.url),
    };
    Ok(Link { url, token, expires_at: crate::auth::token::rfc3339(exp) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Token;

    fn args(room: Option<&str>, name: Option<&str>, role: &str) -> TokenArgs {
        TokenArgs {
            room: room.map(str::to_string),
            name: name.map(str::to_string),
            role: role.into(),
            ttl: 3600,
            url: "https://meet.example.com".into(),
            sub: None,
            json: false,
            secret_file: None,
        }
    }

    #[test]
    fn links_carry_a_token_the_server_accepts() {
        let secret = Secret::new(vec![7; 32]).unwrap();
        let link = mint(&args(Some("standup"), Some("Ada"), "host"), &secret, 1000).unwrap();
        assert!(link.url.starts_with("https://meet.example.com/rooms/standup?token="), "{}", link.url);
        let Token::Access(c) = Keys::new(&secret).verify(&link.token, 1000).unwrap() else { panic!() };
        assert_eq!((c.name.as_str(), c.role, c.exp), ("Ada", Role::Host, 4600));
        let admin = mint(&args(None, None, "admin"), &secret, 1000).unwrap();
        assert!(admin.url.starts_with("https://meet.example.com/recordings?token="), "{}", admin.url);
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        let secret = Secret::new(vec![7; 32]).unwrap();
        for (a, why) in [
            (args(None, Some("Ada"), "guest"), "--room"),
            (args(Some("a/b"), Some("Ada"), "guest"), "--room"),
            (args(Some("standup"), None, "guest"), "--name"),
            (args(Some("standup"), Some(""), "guest"), "--name"),
            (args(Some("standup"), None, "admin"), "every room"),
        ] {
            let err = mint(&a, &secret, 0).unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
    }
}
