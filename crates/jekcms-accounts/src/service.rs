//! Account operations as a caller performs them. Every role decision is asked of
//! [`Actor`] (`require`, `require_manage`), so the rules of API.md §2.3 live in one place:
//!
//! - anyone reads and edits their own name, email and password;
//! - admins and owners read every user of their site, and create, change, delete and make
//!   keys for users whose role is below their own (owners also for other owners);
//! - nobody grants a role they could not manage, and the last owner stays an owner;
//! - anyone may list and revoke their own keys (that only takes access away).
//!
//! A demotion or a password change ends the user's sessions at once.

use crate::AccountError;
use crate::model::{
    ApiKey, CreatedKey, KeyFamily, KeyRequest, Login, NewApiKey, NewUser, Registration, Site, User,
    UserChange, UserPatch, UserRequest,
};
use crate::repo::{AccountStore, KeyScope, LoginRecord};
use crate::site::{SiteDetails, SitePatch};
use jekcms_auth::session::{SessionFamily, SessionStore};
use jekcms_auth::{
    Action, Actor, CredentialFamily, Plan, Role, SecretHash, TokenPair, TokenService,
};

type Job = Box<dyn FnOnce() + Send>;

/// The password workers: half the cores, at least one, started on first use. Argon2id costs
/// ~20 ms of CPU and 19 MiB of memory per call; running it on a few dedicated threads instead
/// of tokio's blocking pool bounds both, so a flood of logins can neither take every core
/// from the API nor leave 19 MiB of heap behind in each of dozens of blocking threads.
fn password_workers() -> &'static std::sync::mpsc::Sender<Job> {
    static WORKERS: std::sync::OnceLock<std::sync::mpsc::Sender<Job>> = std::sync::OnceLock::new();
    WORKERS.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        let n = std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1));
        for i in 0..n {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("jekcms-password-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            // A panicking job must not take the worker with it.
                            Ok(job) => {
                                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                            }
                            Err(_) => return,
                        }
                    }
                })
                .expect("a password worker thread starts");
        }
        tx
    })
}

/// Runs `f` on a password worker and waits for it without blocking the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AccountError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    password_workers()
        .send(Box::new(move || {
            let _ = tx.send(f());
        }))
        .map_err(|_| AccountError::internal("the password workers have stopped"))?;
    rx.await
        .map_err(|_| AccountError::internal("a password worker failed"))
}

async fn hash_password(password: String) -> Result<String, AccountError> {
    blocking(move || jekcms_auth::password::hash(&password)).await
}

/// Creates a site on `plan` (the server's default plan) with the registrant as its owner
/// and signs them in.
pub async fn register<A: AccountStore, S: SessionStore>(
    accounts: &A,
    tokens: &TokenService<S>,
    registration: Registration,
    plan: Plan,
) -> Result<(User, Site, TokenPair), AccountError> {
    let Registration {
        name,
        email,
        password,
        site_name,
    } = registration;
    let password_hash = hash_password(password).await?;
    let owner = NewUser {
        name,
        email,
        role: Role::Owner,
        password_hash: Some(password_hash),
    };
    let (site, user) = accounts.register(&site_name, plan, owner).await?;
    let pair = tokens.open_password_session(user.id, site.id).await?;
    Ok((user, site, pair))
}

/// Signs a user in with email and password, in the site named by `login.site` or, without
/// it, in the one site that has this email. Every refusal is the same `BadCredentials`
/// after the same Argon2 work — unknown email, wrong password, a user without password, an
/// email that several sites have and no `site` — so the answer reveals neither whether nor
/// where an email is registered.
pub async fn login<A: AccountStore, S: SessionStore>(
    accounts: &A,
    tokens: &TokenService<S>,
    login: Login,
) -> Result<(User, TokenPair), AccountError> {
    let Login {
        email,
        password,
        site,
    } = login;
    // No stored email or site slug holds NUL (every store refuses it), and PostgreSQL
    // cannot even compare one: such a login is unknown, with the same work as any other.
    let records = if email.contains('\0') || site.as_deref().is_some_and(|s| s.contains('\0')) {
        Vec::new()
    } else {
        accounts.login_records(&email, site.as_deref()).await?
    };
    let record = match <[LoginRecord; 1]>::try_from(records) {
        Ok([record]) => Some(record),
        Err(_) => None,
    };
    let hash = record.as_ref().and_then(|r| r.password_hash.clone());
    let matches = blocking(move || match hash {
        Some(hash) => jekcms_auth::password::verify(&password, &hash),
        None => {
            jekcms_auth::password::verify_nothing(&password);
            false
        }
    })
    .await?;
    let record = match record {
        Some(r) if matches => r,
        _ => return Err(AccountError::BadCredentials),
    };
    // Said only to whoever proved the password, rather than handing out tokens that every
    // request would refuse.
    if !record.site_api_access {
        return Err(AccountError::LicenseRequired);
    }
    let user = record.user;
    let pair = tokens.open_password_session(user.id, user.site_id).await?;
    Ok((user, pair))
}

/// The actor's site (any role).
pub async fn get_site<A: AccountStore>(
    accounts: &A,
    actor: &Actor,
) -> Result<SiteDetails, AccountError> {
    actor.require(Action::ReadContent, false)?;
    accounts.site_details(actor.site_id).await
}

/// Changes the actor's site's name and origins (owners only: [`Action::ManageSite`]).
pub async fn update_site<A: AccountStore>(
    accounts: &A,
    actor: &Actor,
    patch: SitePatch,
) -> Result<SiteDetails, AccountError> {
    actor.require(Action::ManageSite, false)?;
    accounts.update_site(actor.site_id, patch).await
}

/// Users of the actor's site (admins and owners).
pub async fn list_users<A: AccountStore>(
    accounts: &A,
    actor: &Actor,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<User>, AccountError> {
    actor.require(Action::ManageUsers, false)?;
    accounts.list_users(actor.site_id, after, limit).await
}

/// One user: oneself, or anyone of the site for admins and owners.
pub async fn get_user<A: AccountStore>(
    accounts: &A,
    actor: &Actor,
    user_id: i64,
) -> Result<User, AccountError> {
    let user = accounts.get_user(actor.site_id, user_id).await?;
    if user.id != actor.user_id {
        actor.require(Action::ManageUsers, false)?;
    }
    Ok(user)
}

/// Creates a user with a role the actor may grant.
pub async fn create_user<A: AccountStore>(
    accounts: &A,
    actor: &Actor,
    request: UserRequest,
) -> Result<User, AccountError> {
    actor.require_manage(request.role)?;
    let password_hash = match request.password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    let user = NewUser {
        name: request.name,
        email: request.email,
        role: request.role,
        password_hash,
    };
    accounts.create_user(actor.site_id, user).await
}

/// Changes a user. Others need a role the actor manages; a role change needs both the old
/// and the new role to be manageable.
///
/// Changing one's own password or email takes the current password (when the user has
/// one) and a password session: a session from an API key — or a stolen access token of
/// one — must not be able to turn itself into a password that outlives the key.
pub async fn update_user<A: AccountStore>(
    accounts: &A,
    actor: &Actor,
    credential: SessionFamily,
    user_id: i64,
    patch: UserPatch,
) -> Result<User, AccountError> {
    let target = accounts.get_user(actor.site_id, user_id).await?;
    if target.id != actor.user_id {
        actor.require_manage(target.role)?;
    } else if patch.password.is_some() || patch.email.is_some() {
        if credential == SessionFamily::Api {
            return Err(AccountError::Forbidden(
                "changing your own password or email needs a session from POST /api/v2/auth/login, not an API key".into(),
            ));
        }
        confirm_password(accounts, &target, patch.current_password.clone()).await?;
    }
    let role = patch.role.filter(|r| *r != target.role);
    if let Some(new_role) = role {
        actor.require_manage(target.role)?;
        actor.require_manage(new_role)?;
    }
    let end_sessions = role.is_some_and(|r| r < target.role) || patch.password.is_some();
    let password_hash = match patch.password {
        Some(p) => Some(hash_password(p).await?),
        None => None,
    };
    let change = UserChange {
        name: patch.name,
        email: patch.email,
        role,
        password_hash,
        end_sessions,
    };
    accounts.update_user(actor.site_id, user_id, change).await
}

/// Checks `current_password` against the user's password; a user without one has nothing
/// to confirm.
async fn confirm_password<A: AccountStore>(
    accounts: &A,
    user: &User,
    current_password: Option<String>,
) -> Result<(), AccountError> {
    let Some(hash) = accounts.password_hash(user.site_id, user.id).await? else {
        return Ok(());
    };
    let Some(presented) = current_password else {
        return Err(AccountError::field(
            "current_password",
            "current_password is required to change your own password or email",
        ));
    };
    if blocking(move || jekcms_auth::password::verify(&presented, &hash)).await? {
        Ok(())
    } else {
        Err(AccountError::field(
            "current_password",
            "current_password is incorrect",
        ))
    }
}

/// Deletes a user. Their posts and media pass to `reassign_to`, or to the writer (each such
/// post and medium is an update in the activity log).
pub async fn delete_user<A: AccountStore>(
    accounts: &A,
    by: &jekcms_auth::Writer,
    user_id: i64,
    reassign_to: Option<i64>,
) -> Result<(), AccountError> {
    let actor = &by.actor;
    let target = accounts.get_user(actor.site_id, user_id).await?;
    actor.require_manage(target.role)?;
    let heir = reassign_to.unwrap_or(actor.user_id);
    // Checked again, atomically, by the store; asked first so that the answer names the
    // real obstacle.
    if target.role == Role::Owner && accounts.owner_count(actor.site_id).await? <= 1 {
        return Err(AccountError::LastOwner);
    }
    if heir == target.id {
        return Err(AccountError::field(
            "reassign_to",
            "the user's posts and media need another owner: pass reassign_to with another user's id",
        ));
    }
    match accounts.get_user(actor.site_id, heir).await {
        Ok(_) => {}
        Err(AccountError::NotFound) => {
            return Err(AccountError::field(
                "reassign_to",
                "reassign_to must be the id of another user of this site",
            ));
        }
        Err(e) => return Err(e),
    }
    accounts.delete_user(by, user_id, heir).await
}

/// Prefix of the listed id of an MCP token.
pub const MCP_ID_PREFIX: &str = "mcpid_";

/// A fresh credential of `family`: (public id stored in clear, the secret to show once,
/// and for `api` keys the `sk_` secret; for `mcp` the token is both).
pub fn generate_key(family: KeyFamily) -> (String, String) {
    match family {
        KeyFamily::Api => (
            CredentialFamily::ApiKey.generate(),
            CredentialFamily::ApiSecret.generate(),
        ),
        KeyFamily::Mcp => {
            // The id shown in listings is random too, and shares nothing with the token:
            // a listing, a log line or a screenshot of it gives away no part of the secret.
            // (`mcpid_` is no credential prefix, so scanners and the server never take it
            // for a token.)
            let id = format!(
                "{MCP_ID_PREFIX}{}",
                jekcms_auth::credential::random_base62(16)
            );
            (id, CredentialFamily::Mcp.generate())
        }
    }
}

/// Creates a key for the actor or for a user whose role the actor manages.
pub async fn create_key<A: AccountStore>(
    accounts: &A,
    actor: &Actor,
    request: KeyRequest,
) -> Result<CreatedKey, AccountError> {
    actor.require(Action::ManageUsers, false)?;
    let user_id = request.user_id.unwrap_or(actor.user_id);
    if user_id != actor.user_id {
        let user = match accounts.get_user(actor.site_id, user_id).await {
            Err(AccountError::NotFound) => {
                return Err(AccountError::field(
                    "user_id",
                    "user_id must be the id of a user of this site",
                ));
            }
            other => other?,
        };
        actor.require_manage(user.role)?;
    }
    let (public_id, secret) = generate_key(request.family);
    let key = accounts
        .create_key(
            actor.site_id,
            NewApiKey {
                user_id,
                family: request.family,
                name: request.name,
                public_id: public_id.clone(),
                secret_hash: SecretHash::of(&secret),
                expires_at: request.expires_at,
            },
        )
        .await?;
    Ok(match request.family {
        KeyFamily::Api => CreatedKey {
            key,
            api_key: Some(public_id),
            api_secret: Some(secret),
            token: None,
        },
        KeyFamily::Mcp => CreatedKey {
            key,
            api_key: None,
            api_secret: None,
            token: Some(secret),
        },
    })
}

/// Keys the actor may see: their own, and those of users whose role they manage.
pub async fn list_keys<A: AccountStore>(
    accounts: &A,
    actor: &Actor,
    after: Option<i64>,
    limit: u32,
) -> Result<Vec<ApiKey>, AccountError> {
    let roles: Vec<Role> = Role::ALL
        .into_iter()
        .filter(|r| actor.require_manage(*r).is_ok())
        .collect();
    let scope = KeyScope {
        own_user_id: actor.user_id,
        roles: &roles,
    };
    accounts.list_keys(actor.site_id, scope, after, limit).await
}

/// Revokes one of the actor's keys, or a key of a user whose role the actor manages.
pub async fn revoke_key<A: AccountStore>(
    accounts: &A,
    actor: &Actor,
    key_id: i64,
) -> Result<ApiKey, AccountError> {
    let (key, role) = accounts.get_key(actor.site_id, key_id).await?;
    if key.user_id != actor.user_id {
        actor.require_manage(role)?;
    }
    if key.revoked_at.is_some() {
        return Err(AccountError::NotFound);
    }
    let now = jekcms_auth::now();
    accounts.revoke_key(actor.site_id, key_id, now).await?;
    Ok(ApiKey {
        revoked_at: Some(now),
        ..key
    })
}
