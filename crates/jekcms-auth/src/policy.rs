//! Roles and the single decision point for what a role may do (API.md §2.3).
//!
//! Handlers never compare roles themselves: they ask [`Role::may`] with the [`Action`] and,
//! for actions on an existing resource, whether the caller owns it.

use std::fmt;
use std::str::FromStr;

/// A user's role within its site, from least to most privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything of the site.
    Viewer,
    /// Creates content and manages their own.
    Author,
    /// Manages everyone's content; bulk import.
    Editor,
    /// Manages users and keys below their own role.
    Admin,
    /// Everything, including site settings and other owners.
    Owner,
}

impl Role {
    /// Every role, least privileged first.
    pub const ALL: [Role; 5] = [
        Self::Viewer,
        Self::Author,
        Self::Editor,
        Self::Admin,
        Self::Owner,
    ];

    /// The name stored and shown, e.g. `"editor"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Author => "author",
            Self::Editor => "editor",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// Whether this role gets the admin rate-limit tier.
    pub const fn is_admin_tier(self) -> bool {
        matches!(self, Self::Admin | Self::Owner)
    }

    /// Whether this role may perform `action`. `owns` says whether the caller owns the
    /// resource acted on; it is ignored for actions that do not concern one resource.
    pub fn may(self, action: Action, owns: bool) -> bool {
        match action {
            Action::ReadContent => true,
            Action::CreateContent => self >= Self::Author,
            Action::ChangeContent => self >= Self::Editor || (self >= Self::Author && owns),
            Action::BulkImport => self >= Self::Editor,
            Action::ManageUsers | Action::ReadActivity => self >= Self::Admin,
            Action::ManageSite => self == Self::Owner,
        }
    }

    /// Whether this role may grant, or act on a user holding, `target`: only roles below
    /// one's own, except that an owner may manage other owners.
    pub fn may_manage_role(self, target: Role) -> bool {
        self.may(Action::ManageUsers, false) && (target < self || self == Self::Owner)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing an unknown role name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("role must be one of viewer, author, editor, admin, owner")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownRole)
    }
}

/// Something a caller may try to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read posts of any status, and media.
    ReadContent,
    /// Create posts, upload media.
    CreateContent,
    /// Edit, publish or delete a post or medium (own, or anyone's for editors and up).
    ChangeContent,
    /// Use the bulk import endpoint.
    BulkImport,
    /// Manage users and keys below one's own role.
    ManageUsers,
    /// Site settings, pull keys, webhooks, owners.
    ManageSite,
    /// Read the site's activity log (who wrote what).
    ReadActivity,
}

/// Who is acting: enough to scope and authorise any operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    /// The acting user.
    pub user_id: i64,
    /// Their site: every operation is confined to it.
    pub site_id: i64,
    /// Their current role.
    pub role: Role,
}

/// How a writer came: the credential family the activity log records (`api`, `password`,
/// `mcp`, `cli`, or `system` for the server itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ActorFamily {
    /// A session opened with an `api_` key.
    Api,
    /// A session opened with an email and password.
    Password,
    /// An `mcp_` token at the MCP endpoint.
    Mcp,
    /// The operator's command line, writing to the store directly.
    Cli,
    /// The server itself, on nobody's request: a scheduled post reaching its time.
    System,
}

impl ActorFamily {
    /// Every family.
    pub const ALL: [Self; 5] = [
        Self::Api,
        Self::Password,
        Self::Mcp,
        Self::Cli,
        Self::System,
    ];

    /// Stored and shown name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Password => "password",
            Self::Mcp => "mcp",
            Self::Cli => "cli",
            Self::System => "system",
        }
    }

    /// The family a stored name stands for.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// Who makes a write: the [`Actor`] the policy checks, and what the activity log records
/// of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Writer {
    /// The acting user, their site and role.
    pub actor: Actor,
    /// How they came.
    pub family: ActorFamily,
    /// The public id of the key their session came from, if any.
    pub key_id: Option<String>,
    /// The request's `X-Request-Id`.
    pub request_id: Option<String>,
}

impl Writer {
    /// The writer's site: every write is confined to it.
    pub fn site_id(&self) -> i64 {
        self.actor.site_id
    }

    /// The acting user.
    pub fn user_id(&self) -> i64 {
        self.actor.user_id
    }

    /// The server itself writing to site `site_id` on nobody's request (a scheduled post
    /// reaching its time). Its events show no user. For stores only: it passes every
    /// role check, so no request may act as it.
    pub fn system(site_id: i64) -> Self {
        Self {
            actor: Actor {
                user_id: 0,
                site_id,
                role: Role::Owner,
            },
            family: ActorFamily::System,
            key_id: None,
            request_id: None,
        }
    }
}

/// A refused action; the message names the role and what it may not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

impl Actor {
    /// `Ok` if the actor's role may perform `action` (`owns`: on their own resource).
    pub fn require(&self, action: Action, owns: bool) -> Result<(), Denied> {
        if self.role.may(action, owns) {
            Ok(())
        } else {
            Err(Denied(format!(
                "the {} role may not {}",
                self.role,
                describe(action, owns)
            )))
        }
    }

    /// `Ok` if the actor may create, change or remove a user (or their keys) holding `target`.
    pub fn require_manage(&self, target: Role) -> Result<(), Denied> {
        self.require(Action::ManageUsers, false)?;
        if self.role.may_manage_role(target) {
            Ok(())
        } else {
            Err(Denied(format!(
                "the {} role may not manage users with the {target} role",
                self.role
            )))
        }
    }
}

fn describe(action: Action, owns: bool) -> &'static str {
    match (action, owns) {
        (Action::ReadContent, _) => "read content",
        (Action::CreateContent, _) => "create content",
        (Action::ChangeContent, true) => "change content",
        (Action::ChangeContent, false) => "change content created by other users",
        (Action::BulkImport, _) => "bulk import",
        (Action::ManageUsers, _) => "manage users or keys",
        (Action::ManageSite, _) => "manage the site",
        (Action::ReadActivity, _) => "read the activity log",
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;
    use Role::*;

    /// The §2.3 table, row by row: (action, owns, [viewer, author, editor, admin, owner]).
    const TABLE: &[(Action, bool, [bool; 5])] = &[
        (ReadContent, false, [true, true, true, true, true]),
        (CreateContent, false, [false, true, true, true, true]),
        (ChangeContent, true, [false, true, true, true, true]),
        (ChangeContent, false, [false, false, true, true, true]),
        (BulkImport, false, [false, false, true, true, true]),
        (ManageUsers, false, [false, false, false, true, true]),
        (ManageSite, false, [false, false, false, false, true]),
    ];

    #[test]
    fn every_cell_of_the_role_table() {
        for &(action, owns, expected) in TABLE {
            for (role, want) in Role::ALL.into_iter().zip(expected) {
                assert_eq!(
                    role.may(action, owns),
                    want,
                    "{role} {action:?} owns={owns}"
                );
            }
        }
    }

    #[test]
    fn managing_roles_only_below_own_except_owners() {
        assert!(Admin.may_manage_role(Editor));
        assert!(!Admin.may_manage_role(Admin));
        assert!(!Admin.may_manage_role(Owner));
        assert!(Owner.may_manage_role(Owner));
        assert!(!Editor.may_manage_role(Viewer));
    }

    #[test]
    fn refusals_name_role_and_action() {
        let viewer = Actor {
            user_id: 1,
            site_id: 1,
            role: Viewer,
        };
        assert_eq!(
            viewer.require(CreateContent, false).unwrap_err().0,
            "the viewer role may not create content"
        );
        let admin = Actor {
            role: Admin,
            ..viewer
        };
        assert!(admin.require_manage(Editor).is_ok());
        assert_eq!(
            admin.require_manage(Admin).unwrap_err().0,
            "the admin role may not manage users with the admin role"
        );
    }

    #[test]
    fn names_round_trip() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole));
        assert!(Admin.is_admin_tier() && Owner.is_admin_tier() && !Editor.is_admin_tier());
    }
}
