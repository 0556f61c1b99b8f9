use latchkey_model::{AccessKey, AccessKeyId, Account, KeyStatus, SecretAccessKey, UniqueId, User};

/// What `initialize` writes: the management account and its root key.
#[derive(Debug)]
pub struct Bootstrap {
    /// The management account.
    pub account: Account,
    /// The root user's first access key.
    pub root_key: AccessKey,
    /// Its secret.
    pub root_secret: SecretAccessKey,
}

/// One change inside a transaction.
#[derive(Debug)]
pub enum Op {
    /// Adds an account.
    InsertAccount(Account),
    /// Adds a user (with its tags).
    InsertUser(User),
    /// Removes a user; fails with a constraint error while keys remain.
    DeleteUser(UniqueId),
    /// Adds an access key and its secret.
    InsertAccessKey(AccessKey, SecretAccessKey),
    /// Activates or deactivates a key.
    SetAccessKeyStatus(AccessKeyId, KeyStatus),
    /// Removes a key.
    DeleteAccessKey(AccessKeyId),
}

/// A key with its decrypted secret.
#[derive(Debug)]
pub struct LoadedAccessKey {
    /// Metadata.
    pub key: AccessKey,
    /// The secret, opened with the master key.
    pub secret: SecretAccessKey,
}

/// Everything [`crate::Store::load`] returns.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The version this data corresponds to.
    pub version: i64,
    /// Accounts.
    pub accounts: Vec<Account>,
    /// Users of every account.
    pub users: Vec<User>,
    /// Access keys of every account.
    pub access_keys: Vec<LoadedAccessKey>,
}
