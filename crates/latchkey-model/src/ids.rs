use std::fmt;
use std::str::FromStr;

use data_encoding::BASE32_NOPAD;

use crate::{random_bytes, session_random_bytes};

/// A 12-digit AWS account id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(u64);

/// The text was not a 12-digit account id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("account id `{0}` is not 12 digits")]
pub struct InvalidAccountId(pub String);

impl AccountId {
    /// The largest account id: twelve nines.
    pub const MAX: u64 = 999_999_999_999;

    /// Builds an account id from its number, if it has at most 12 digits.
    pub fn from_u64(n: u64) -> Option<Self> {
        (n <= Self::MAX).then_some(Self(n))
    }

    /// A random account id, never starting with 0 so that tools that strip
    /// leading zeros do not mangle it.
    pub fn random() -> Self {
        let mut b = [0u8; 8];
        random_bytes(&mut b);
        Self(100_000_000_000 + u64::from_le_bytes(b) % 900_000_000_000)
    }

    /// The account id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl FromStr for AccountId {
    type Err = InvalidAccountId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            s.parse::<u64>().map(Self).map_err(|_| InvalidAccountId(s.to_owned()))
        } else {
            Err(InvalidAccountId(s.to_owned()))
        }
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:012}", self.0)
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({self})")
    }
}

/// Whether an access key is long-term (`AKIA`) or temporary (`ASIA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// An IAM user's or root's access key.
    LongTerm,
    /// A key minted by STS.
    Temporary,
}

/// The four-letter prefixes AWS gives its unique identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdPrefix {
    /// IAM user.
    User,
    /// IAM role.
    Role,
    /// IAM group.
    Group,
    /// Customer-managed policy.
    Policy,
    /// Instance profile.
    InstanceProfile,
    /// Long-term access key.
    AccessKey,
    /// Temporary access key.
    TemporaryKey,
}

impl IdPrefix {
    /// The prefix as AWS writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            IdPrefix::User => "AIDA",
            IdPrefix::Role => "AROA",
            IdPrefix::Group => "AGPA",
            IdPrefix::Policy => "ANPA",
            IdPrefix::InstanceProfile => "AIPA",
            IdPrefix::AccessKey => "AKIA",
            IdPrefix::TemporaryKey => "ASIA",
        }
    }
}

/// Ten bytes whose first six carry the account as AWS's newer identifiers do:
/// bits 46..7 of the 48-bit big-endian prefix hold the account id, the
/// remaining bits are random. Base32 of the ten bytes is sixteen characters.
fn encoded_body(account: &AccountId, fill: fn(&mut [u8])) -> String {
    let mut bytes = [0u8; 10];
    fill(&mut bytes);
    let random_low = u64::from(bytes[5]) & 0x7f;
    let n = (account.as_u64() << 7) | random_low;
    let prefix = n.to_be_bytes();
    // n fits in 47 bits (12 digits < 2^40, shifted by 7), so bytes 2..8 of the
    // u64 are the whole value.
    bytes[..6].copy_from_slice(&prefix[2..8]);
    BASE32_NOPAD.encode(&bytes)
}

fn decode_body(body: &str) -> Option<AccountId> {
    let bytes = BASE32_NOPAD.decode(body.as_bytes()).ok()?;
    let head = bytes.get(..6)?;
    let mut be = [0u8; 8];
    be[2..].copy_from_slice(head);
    let n = u64::from_be_bytes(be);
    AccountId::from_u64((n & 0x7fff_ffff_ff80) >> 7)
}

/// An access key id: `AKIA` or `ASIA` and sixteen characters of `[A-Z2-7]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessKeyId(String);

impl AccessKeyId {
    /// Mints a new key id for `account`.
    pub fn generate(kind: KeyKind, account: &AccountId) -> Self {
        let (prefix, fill): (IdPrefix, fn(&mut [u8])) = match kind {
            KeyKind::LongTerm => (IdPrefix::AccessKey, random_bytes),
            KeyKind::Temporary => (IdPrefix::TemporaryKey, session_random_bytes),
        };
        Self(format!("{}{}", prefix.as_str(), encoded_body(account, fill)))
    }

    /// Wraps a key id read from storage or a request, after checking its shape.
    pub fn parse(s: &str) -> Option<Self> {
        Self::kind_of(s).map(|_| Self(s.to_owned()))
    }

    /// The key's kind, from its prefix, if `s` is shaped like a key id.
    pub fn kind_of(s: &str) -> Option<KeyKind> {
        if s.len() != 20 || !s.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)) {
            return None;
        }
        match s.get(..4)? {
            "AKIA" => Some(KeyKind::LongTerm),
            "ASIA" => Some(KeyKind::Temporary),
            _ => None,
        }
    }

    /// The account encoded in any AWS-style key id, without a lookup, as
    /// `GetAccessKeyInfo` answers. Works for ids of other services' prefixes too.
    pub fn decode_account(s: &str) -> Option<AccountId> {
        decode_body(s.get(4..)?)
    }

    /// The key id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for AccessKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessKeyId({})", self.0)
    }
}

/// A unique id such as `AIDA…` (21 characters, like AWS's), carrying the
/// account the same way key ids do.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UniqueId(String);

impl UniqueId {
    /// Mints a new unique id.
    pub fn generate(prefix: IdPrefix, account: &AccountId) -> Self {
        let mut extra = [0u8; 1];
        random_bytes(&mut extra);
        let tail = BASE32_NOPAD.encode(&extra);
        // AWS's unique ids are 21 characters: prefix, 16 encoded, 1 more.
        let last = tail.get(..1).unwrap_or("A");
        Self(format!("{}{}{}", prefix.as_str(), encoded_body(account, random_bytes), last))
    }

    /// Wraps an id read from storage.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The id text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UniqueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_published_example() {
        // The key id from the write-up that reverse-engineered the encoding:
        // it belongs to account 609629065308.
        assert_eq!(
            AccessKeyId::decode_account("ASIAY34FZKBOKMUTVV7A").map(|a| a.to_string()),
            Some("609629065308".to_owned())
        );
    }

    #[test]
    fn round_trips_accounts() {
        for n in [0u64, 1, 123_456_789_012, AccountId::MAX] {
            let account = AccountId::from_u64(n).unwrap();
            for kind in [KeyKind::LongTerm, KeyKind::Temporary] {
                let key = AccessKeyId::generate(kind, &account);
                assert_eq!(key.as_str().len(), 20);
                assert_eq!(AccessKeyId::kind_of(key.as_str()), Some(kind));
                assert_eq!(AccessKeyId::decode_account(key.as_str()), Some(account));
            }
            let id = UniqueId::generate(IdPrefix::User, &account);
            assert_eq!(id.as_str().len(), 21);
            assert!(id.as_str().starts_with("AIDA"));
        }
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!("12345678901".parse::<AccountId>().is_err());
        assert!("1234567890123".parse::<AccountId>().is_err());
        assert!("12345678901a".parse::<AccountId>().is_err());
        assert_eq!("000000000001".parse::<AccountId>().unwrap().to_string(), "000000000001");
        let r = AccountId::random().to_string();
        assert_eq!(r.len(), 12);
    }

    #[test]
    fn rejects_malformed_key_ids() {
        assert_eq!(AccessKeyId::kind_of("AKIA"), None);
        assert_eq!(AccessKeyId::kind_of("AKIAAAAAAAAAAAAAAAA1"), None);
        assert_eq!(AccessKeyId::kind_of("AGPAAAAAAAAAAAAAAAAA"), None);
        assert_eq!(AccessKeyId::decode_account("AK"), None);
        assert_eq!(AccessKeyId::decode_account("AKIA!!!!"), None);
    }
}
