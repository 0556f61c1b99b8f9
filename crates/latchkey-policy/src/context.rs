//! The request context: condition keys and their values.

use rustc_hash::FxHashMap;

/// Condition keys of one request (`aws:SourceIp`, `aws:PrincipalTag/team`, ...),
/// each with one or several string values.
///
/// Key names are case-insensitive, as in IAM, including the tag-key part after
/// the `/`; they are stored lower-cased so that the evaluator, whose keys were
/// lower-cased when the policy was compiled, looks them up without allocating.
/// Values are kept as given: numbers, dates, booleans, IP addresses and base64
/// data are parsed by the operator that reads them.
#[derive(Debug, Clone, Default)]
pub struct Context {
    map: FxHashMap<Box<str>, Box<[Box<str>]>>,
}

impl Context {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to one value, replacing any earlier values.
    pub fn insert(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        let value: String = value.into();
        self.map.insert(
            key.to_lowercase().into(),
            vec![value.into_boxed_str()].into(),
        );
        self
    }

    /// Sets a multi-valued key (`aws:TagKeys`, `aws:PrincipalOrgPaths`, ...).
    /// An empty list is kept: `ForAllValues` and `ForAnyValue` treat an empty
    /// key differently from other operators.
    pub fn insert_multi<I, S>(&mut self, key: &str, values: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let values: Vec<Box<str>> = values
            .into_iter()
            .map(|v| v.into().into_boxed_str())
            .collect();
        self.map.insert(key.to_lowercase().into(), values.into());
        self
    }

    /// Builder form of [`insert`](Self::insert).
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.insert(key, value);
        self
    }

    /// Builder form of [`insert_multi`](Self::insert_multi).
    #[must_use]
    pub fn with_multi<I, S>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.insert_multi(key, values);
        self
    }

    /// Removes a key.
    pub fn remove(&mut self, key: &str) {
        self.map.remove(key.to_lowercase().as_str());
    }

    /// The values of `key` (any case), or `None` when the request has no such key.
    pub fn get(&self, key: &str) -> Option<impl ExactSizeIterator<Item = &str>> {
        let lower;
        let key = if key.bytes().any(|b| b.is_ascii_uppercase()) || !key.is_ascii() {
            lower = key.to_lowercase();
            lower.as_str()
        } else {
            key
        };
        self.get_lower(key)
            .map(|values| values.iter().map(|v| &**v))
    }

    /// Looks up a key that is already lower-case.
    pub(crate) fn get_lower(&self, key: &str) -> Option<&[Box<str>]> {
        if self.map.is_empty() {
            return None;
        }
        self.map.get(key).map(|v| &**v)
    }

    /// The single value of a key, as policy variables need it: a key with several
    /// values (or none) has no single value and so no substitution.
    pub(crate) fn single_lower(&self, key: &str) -> Option<&str> {
        match self.get_lower(key)? {
            [one] => Some(one),
            _ => None,
        }
    }

    /// All keys (lower-cased) and their values.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Box<str>])> {
        self.map.iter().map(|(k, v)| (&**k, &**v))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the context has no keys.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_case_insensitive() {
        let ctx = Context::new().with("aws:PrincipalTag/Team", "blue");
        assert_eq!(
            ctx.get("AWS:principaltag/TEAM")
                .unwrap()
                .collect::<Vec<_>>(),
            ["blue"]
        );
        assert_eq!(ctx.single_lower("aws:principaltag/team"), Some("blue"));
    }
}
