//! Authentication: a SigV4 signature checked against the secret held in the
//! snapshot, turned into a [`Caller`]. No database read.

pub mod mfa;
pub mod regions;

use latchkey_model::{AccessKeyId, AccessKeyOwner, AccountId, Arn, KeyKind, KeyStatus};
use latchkey_sigv4::{HttpRequest, SignatureValid, SignedRequest, SigningKeyCache};
use latchkey_token::{SessionClaims, SessionKind};

use crate::state::Snapshot;
use regions::Regions;

/// Who is calling, established by a verified signature.
#[derive(Debug)]
pub struct Caller {
    /// The caller's account.
    pub account: AccountId,
    /// What kind of principal.
    pub principal: Principal,
    /// The access key the request was signed with.
    pub access_key_id: String,
    /// The session, for temporary credentials.
    pub session: Option<Box<SessionClaims>>,
    /// Proof that the signature was checked; authorisation takes a `&Caller`,
    /// so nothing can be authorised before it is verified.
    proof: SignatureValid,
}

/// The principal behind a key.
#[derive(Debug, Clone)]
pub enum Principal {
    /// The account's root user.
    Root,
    /// An IAM user (with long-term keys, or a GetSessionToken session).
    User {
        /// `AIDA…`
        id: String,
        /// The user's name.
        name: String,
        /// The user's ARN.
        arn: String,
    },
    /// A role session from AssumeRole.
    AssumedRole {
        /// `AROA…`
        role_id: String,
        /// The role's ARN (with its path).
        role_arn: String,
        /// `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`
        arn: String,
        /// `RoleSessionName`.
        session_name: String,
    },
    /// A GetFederationToken session.
    FederatedUser {
        /// The federated user's name.
        name: String,
        /// `arn:aws:sts::ACCT:federated-user/NAME`
        arn: String,
        /// The IAM user who created it (`None` for root).
        user_id: Option<String>,
        /// That user's (or root's) ARN.
        user_arn: String,
    },
}

impl Caller {
    /// The caller's ARN, as GetCallerIdentity and error messages show it.
    pub fn arn(&self) -> String {
        match &self.principal {
            Principal::Root => Arn::root(&self.account),
            Principal::User { arn, .. } | Principal::AssumedRole { arn, .. } | Principal::FederatedUser { arn, .. } => {
                arn.clone()
            }
        }
    }

    /// GetCallerIdentity's UserId: the account id for root, the unique id otherwise.
    pub fn user_id(&self) -> String {
        match &self.principal {
            Principal::Root => self.account.to_string(),
            Principal::User { id, .. } => id.clone(),
            Principal::AssumedRole { role_id, session_name, .. } => format!("{role_id}:{session_name}"),
            Principal::FederatedUser { name, .. } => format!("{}:{name}", self.account),
        }
    }

    /// What kind of session the caller holds, if any.
    pub fn session_kind(&self) -> Option<&SessionKind> {
        self.session.as_deref().map(|s| &s.kind)
    }

    /// Whether the caller signed with temporary credentials.
    pub fn is_session(&self) -> bool {
        self.session.is_some()
    }

    /// The signature proof.
    pub fn proof(&self) -> &SignatureValid {
        &self.proof
    }
}

/// A verified request: the caller and the scope it was signed for.
#[derive(Debug)]
pub struct Authenticated {
    /// Who.
    pub caller: Caller,
    /// The credential scope's service.
    pub service: String,
    /// The credential scope's region.
    pub region: String,
}

/// Why a signature did not establish a caller. Each reason becomes its AWS
/// answer only as it turns into an [`ApiError`](crate::ApiError); they are
/// kept apart until then because the server treats them differently: a
/// token this node cannot open may be sealed by a key another node created
/// a moment ago, which is worth a catch-up with the store, where a refused
/// access key is not.
#[derive(Debug)]
pub enum AuthnError {
    /// The signature, its scope or its date is wrong.
    Signature(latchkey_sigv4::Error),
    /// The access key is not one latchkey issued, is inactive, belongs to a
    /// user since deleted, or is a long-term key sent with a session token.
    InvalidKey,
    /// A temporary key whose session token is missing, or does not open with
    /// this node's token keys (forged, tampered, sealed for another key,
    /// by a retired key or by one this node has not loaded yet).
    InvalidToken,
    /// The session has expired.
    ExpiredToken,
}

impl From<latchkey_sigv4::Error> for AuthnError {
    fn from(e: latchkey_sigv4::Error) -> Self {
        Self::Signature(e)
    }
}

/// Verifies `signed` for `req` with the key it names: a long-term key from
/// the snapshot, or a temporary key whose secret travels sealed in its
/// session token. A credential scope naming a region outside `regions` is
/// refused first, as AWS reports scope problems before it looks at the key
/// or the signature.
pub fn authenticate(
    snap: &Snapshot,
    cache: &SigningKeyCache,
    regions: &Regions,
    req: &HttpRequest<'_>,
    signed: &SignedRequest,
    now: i64,
) -> Result<Authenticated, AuthnError> {
    authenticate_by(snap, cache, regions, signed, now, |key| signed.verify(req, key, now))
}

/// [`authenticate`] with the signature checked by `verify`, given the
/// signing key of the claimed credentials: for a front end whose requests
/// are checked differently (S3's canonical path, and a body that arrives
/// only after the headers are judged). Everything else (the region, the
/// key or token lookup, expiry) is the same.
pub fn authenticate_by(
    snap: &Snapshot,
    cache: &SigningKeyCache,
    regions: &Regions,
    signed: &SignedRequest,
    now: i64,
    verify: impl FnOnce(&latchkey_sigv4::SigningKey) -> Result<SignatureValid, latchkey_sigv4::Error>,
) -> Result<Authenticated, AuthnError> {
    signed.check_region(|r| regions.contains(r))?;
    let claim = Claim { access_key_id: signed.access_key_id(), session_token: signed.session_token() };
    let caller = identify(snap, claim, now, |secret| {
        let key = cache.get_or_derive(claim.access_key_id, signed.scope(), || secret);
        verify(&key)
    })?;
    Ok(Authenticated {
        caller,
        service: signed.scope().service().to_owned(),
        region: signed.scope().region().to_owned(),
    })
}

/// The credentials a request claims to be signed with.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The access key id.
    pub access_key_id: &'a str,
    /// The session token, with temporary credentials.
    pub session_token: Option<&'a str>,
}

/// The caller behind `claim`, once `verify`, given the claimed key's secret,
/// has checked the signature: for any signing scheme (SigV4, and the SigV2
/// S3 still takes). An `AKIA` key is looked up in the snapshot (unknown or
/// inactive, or sent with a session token: `InvalidKey`); an `ASIA` key's
/// session token is opened with the snapshot's key ring and its expiry
/// checked. No database read.
pub fn identify(
    snap: &Snapshot,
    claim: Claim<'_>,
    now: i64,
    verify: impl FnOnce(&str) -> Result<SignatureValid, latchkey_sigv4::Error>,
) -> Result<Caller, AuthnError> {
    let key_id = claim.access_key_id;
    let (account, principal, session, proof) = match AccessKeyId::kind_of(key_id) {
        Some(KeyKind::LongTerm) => long_term(snap, claim, verify)?,
        Some(KeyKind::Temporary) => temporary(snap, claim, now, verify)?,
        None => return Err(AuthnError::InvalidKey),
    };
    Ok(Caller { account, principal, access_key_id: key_id.to_owned(), session, proof })
}

type Verified = (AccountId, Principal, Option<Box<SessionClaims>>, SignatureValid);

fn long_term(
    snap: &Snapshot,
    claim: Claim<'_>,
    verify: impl FnOnce(&str) -> Result<SignatureValid, latchkey_sigv4::Error>,
) -> Result<Verified, AuthnError> {
    let entry = snap.keys.get(claim.access_key_id).ok_or(AuthnError::InvalidKey)?;
    if entry.key.status != KeyStatus::Active {
        return Err(AuthnError::InvalidKey);
    }
    // A long-term key signing with a session token is refused as AWS does.
    if claim.session_token.is_some() {
        return Err(AuthnError::InvalidKey);
    }
    let proof = verify(entry.secret.expose())?;
    let account = entry.key.account;
    let principal = match &entry.key.owner {
        AccessKeyOwner::Root => Principal::Root,
        AccessKeyOwner::User(uid) => {
            let user = snap
                .account(&account)
                .and_then(|a| a.user_by_id(uid))
                .ok_or(AuthnError::InvalidKey)?;
            Principal::User { id: user.id.to_string(), name: user.name.clone(), arn: user.arn() }
        }
    };
    Ok((account, principal, None, proof))
}

fn temporary(
    snap: &Snapshot,
    claim: Claim<'_>,
    now: i64,
    verify: impl FnOnce(&str) -> Result<SignatureValid, latchkey_sigv4::Error>,
) -> Result<Verified, AuthnError> {
    let token = claim.session_token.ok_or(AuthnError::InvalidToken)?;
    let ring = snap.token_ring.as_ref().ok_or(AuthnError::InvalidToken)?;
    // Any failure to open (tampered, another key id, unknown or retired key)
    // is the same answer: the token is not one of ours.
    let claims = ring.open(token, claim.access_key_id).map_err(|_| AuthnError::InvalidToken)?;
    if now >= claims.expires_at {
        return Err(AuthnError::ExpiredToken);
    }
    let account: AccountId = claims.account.parse().map_err(|_| AuthnError::InvalidToken)?;
    let proof = verify(claims.secret_access_key.as_str())?;
    let principal = session_principal(snap, &account, &claims);
    Ok((account, principal, Some(Box::new(claims)), proof))
}

/// The principal a session's claims describe.
fn session_principal(snap: &Snapshot, account: &AccountId, claims: &SessionClaims) -> Principal {
    let account = *account;
    match &claims.kind {
        SessionKind::AssumedRole { role_id, role_name, role_path } => Principal::AssumedRole {
            role_id: role_id.clone(),
            role_arn: Arn::iam(&account, "role", role_path, role_name),
            arn: format!("arn:aws:sts::{account}:assumed-role/{role_name}/{}", claims.session_name),
            session_name: claims.session_name.clone(),
        },
        SessionKind::SessionToken { user: Some(u) } => {
            Principal::User { id: u.id.clone(), name: u.name.clone(), arn: Arn::iam(&account, "user", &u.path, &u.name) }
        }
        SessionKind::SessionToken { user: None } => Principal::Root,
        SessionKind::FederatedUser { name, user_id } => {
            let user_arn = match user_id {
                None => Arn::root(&account),
                Some(id) => snap
                    .account(&account)
                    .and_then(|a| a.user_by_id(&latchkey_model::UniqueId::from_stored(id.clone())))
                    .map_or_else(|| claims.source_arn.clone(), latchkey_model::User::arn),
            };
            Principal::FederatedUser {
                name: name.clone(),
                arn: format!("arn:aws:sts::{account}:federated-user/{name}"),
                user_id: user_id.clone(),
                user_arn,
            }
        }
    }
}

/// Who a request claims to be, from the key it names, without checking its
/// signature: what the audit record of a refused call shows. `None` when the
/// key is not one of ours.
pub fn claimed(snap: &Snapshot, signed: &SignedRequest) -> Option<crate::audit::Who> {
    let key_id = signed.access_key_id();
    match AccessKeyId::kind_of(key_id)? {
        KeyKind::LongTerm => {
            let entry = snap.keys.get(key_id)?;
            let account = entry.key.account;
            let principal = match &entry.key.owner {
                AccessKeyOwner::Root => Principal::Root,
                AccessKeyOwner::User(uid) => {
                    let user = snap.account(&account).and_then(|a| a.user_by_id(uid))?;
                    Principal::User { id: user.id.to_string(), name: user.name.clone(), arn: user.arn() }
                }
            };
            Some(crate::audit::Who::new(&account, &principal, None, key_id))
        }
        KeyKind::Temporary => {
            let claims = snap.token_ring.as_ref()?.open(signed.session_token()?, key_id).ok()?;
            let account: AccountId = claims.account.parse().ok()?;
            let principal = session_principal(snap, &account, &claims);
            Some(crate::audit::Who::new(&account, &principal, Some(&claims), key_id))
        }
    }
}
