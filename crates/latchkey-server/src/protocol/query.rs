//! awsQuery request parameters: `Action=…&Version=…`, `X.member.N` lists,
//! `X.member.N.Field` structures and `X.entry.N.key/value` maps.

use std::collections::BTreeMap;

use crate::ApiError;

/// The decoded parameters of one request, from the query string and the form body.
#[derive(Debug, Default, Clone)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Decodes `application/x-www-form-urlencoded` text, later values winning.
    pub fn extend_from_form(&mut self, bytes: &[u8]) {
        for (k, v) in form_urlencoded::parse(bytes) {
            self.map.insert(k.into_owned(), v.into_owned());
        }
    }

    /// Builds parameters from pairs (tests and JSON bridging).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self { map: pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect() }
    }

    /// Every parameter, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// A parameter's value, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// A required parameter, or AWS's validation error naming it.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| null_error(name))
    }

    /// `Name.member.1`, `Name.member.2`, … in order, stopping at the first gap,
    /// as AWS's deserialiser does.
    pub fn list(&self, name: &str) -> Vec<&str> {
        let mut out = Vec::new();
        for i in 1.. {
            match self.map.get(&format!("{name}.member.{i}")) {
                Some(v) => out.push(v.as_str()),
                None => break,
            }
        }
        out
    }

    /// `Name.member.N.Field` structures: for each N in order, the fields given.
    pub fn struct_list(&self, name: &str) -> Vec<BTreeMap<&str, &str>> {
        let mut out = Vec::new();
        for i in 1.. {
            let prefix = format!("{name}.member.{i}.");
            let fields: BTreeMap<&str, &str> = self
                .map
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .filter_map(|(k, v)| k.get(prefix.len()..).map(|f| (f, v.as_str())))
                .collect();
            if fields.is_empty() {
                break;
            }
            out.push(fields);
        }
        out
    }

    /// Optional integer parameter; a non-number is AWS's validation error.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.trim().parse::<i64>().map_err(|_| {
                    ApiError::validation(format!(
                        "1 validation error detected: Value '{v}' at '{}' failed to satisfy constraint: Member must be a number",
                        lower_first(name)
                    ))
                })
            })
            .transpose()
    }
}

/// AWS names members in validation messages with a lower-case first letter.
pub fn lower_first(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "1 validation error detected: Value null at 'userName' failed to satisfy
/// constraint: Member must not be null"
pub fn null_error(name: &str) -> ApiError {
    ApiError::validation(format!(
        "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
        lower_first(name)
    ))
}

/// Collects constraint violations so one response names them all, as AWS does.
#[derive(Debug, Default)]
pub struct Violations(Vec<String>);

impl Violations {
    /// Records that `value` at `member` broke `constraint`.
    pub fn add(&mut self, member: &str, value: Option<&str>, constraint: &str) {
        let shown = value.map_or_else(|| "null".to_owned(), |v| format!("'{v}'"));
        self.0.push(format!(
            "Value {shown} at '{}' failed to satisfy constraint: {constraint}",
            lower_first(member)
        ));
    }

    /// Checks a string's length in characters.
    pub fn length(&mut self, member: &str, value: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            self.add(member, Some(value), &format!("Member must have length greater than or equal to {min}"));
        } else if n > max {
            self.add(member, Some(value), &format!("Member must have length less than or equal to {max}"));
        }
    }

    /// Checks a string against an allowed-character predicate, naming AWS's pattern.
    pub fn pattern(&mut self, member: &str, value: &str, pattern: &str, ok: impl Fn(char) -> bool) {
        if !value.chars().all(ok) {
            self.add(member, Some(value), &format!("Member must satisfy regular expression pattern: {pattern}"));
        }
    }

    /// Checks an integer range.
    pub fn range(&mut self, member: &str, value: i64, min: i64, max: i64) {
        if value < min {
            self.add(member, Some(&value.to_string()), &format!("Member must have value greater than or equal to {min}"));
        } else if value > max {
            self.add(member, Some(&value.to_string()), &format!("Member must have value less than or equal to {max}"));
        }
    }

    /// The ValidationError, if anything was recorded.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.0.len() {
            0 => Ok(()),
            n => {
                let noun = if n == 1 { "error" } else { "errors" };
                Err(ApiError::validation(format!("{n} validation {noun} detected: {}", self.0.join("; "))))
            }
        }
    }
}

/// `[\w+=,.@-]`, the character class of IAM names and session names.
pub fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_structs() {
        let mut p = Params::default();
        p.extend_from_form(
            b"Action=TagUser&Tags.member.1.Key=team&Tags.member.1.Value=a%20b&Tags.member.2.Key=x&Tags.member.2.Value=&L.member.1=one&L.member.2=two&L.member.4=gap",
        );
        assert_eq!(p.get("Action"), Some("TagUser"));
        assert_eq!(p.list("L"), vec!["one", "two"]);
        let tags = p.struct_list("Tags");
        assert_eq!(tags.len(), 2);
        assert_eq!(tags[0].get("Value"), Some(&"a b"));
        assert_eq!(tags[1].get("Value"), Some(&""));
    }

    #[test]
    fn validation_messages() {
        let e = Params::default().required("UserName").unwrap_err();
        assert_eq!(
            e.message(),
            "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"
        );
        let mut v = Violations::default();
        v.length("RoleSessionName", "a", 2, 64);
        v.range("DurationSeconds", 10, 900, 43200);
        let e = v.finish().unwrap_err();
        assert!(e.message().starts_with("2 validation errors detected: Value 'a' at 'roleSessionName'"));
    }

    #[test]
    fn garbage_does_not_panic() {
        let mut p = Params::default();
        p.extend_from_form(b"%%%&&==&a=%ZZ&\xff\xfe=1");
        assert!(p.int("a").is_err());
    }
}
