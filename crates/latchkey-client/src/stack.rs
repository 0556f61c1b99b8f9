//! The identity stack: what `assume` replaced, so that `unassume` can put
//! it back, one level at a time.
//!
//! The stack lives only in the shell's environment, in `LATCHKEY_STACK`,
//! next to the credentials it protects: base64url (no padding) of a JSON
//! array of frames, oldest first. A frame records every variable latchkey
//! manages as it was before an assume (absent variables are absent from
//! the frame, and are unset again on restore). Nothing is written to disk.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::shell::Change;

/// The variable holding the encoded stack.
pub const STACK_VAR: &str = "LATCHKEY_STACK";

/// Every variable `assume` sets or clears, and `unassume` restores.
pub const MANAGED: [&str; 9] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
    "LATCHKEY_ROLE_ARN",
    "LATCHKEY_SESSION_NAME",
    "LATCHKEY_EXPIRATION",
    "LATCHKEY_TARGET",
];

/// One saved identity: the managed variables that were set, by name.
pub type Frame = BTreeMap<String, String>;

/// Why a stack could not be read.
#[derive(Debug, PartialEq, Eq)]
pub struct BadStack;

impl std::fmt::Display for BadStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("`LATCHKEY_STACK` is not a stack latchkey wrote; unset it to start afresh")
    }
}

impl std::error::Error for BadStack {}

/// The stack as one environment value.
pub fn encode(frames: &[Frame]) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(frames).unwrap_or_default())
}

/// The frames of an encoded stack, oldest first. Empty text is an empty stack.
pub fn decode(text: &str) -> Result<Vec<Frame>, BadStack> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| BadStack)?;
    let frames: Vec<Frame> = serde_json::from_slice(&bytes).map_err(|_| BadStack)?;
    if frames.iter().flat_map(|f| f.keys()).any(|k| !MANAGED.contains(&k.as_str())) {
        return Err(BadStack);
    }
    Ok(frames)
}

/// The managed variables as `env` has them now.
pub fn capture(env: &dyn Fn(&str) -> Option<String>) -> Frame {
    MANAGED.iter().filter_map(|name| env(name).map(|v| ((*name).to_owned(), v))).collect()
}

/// The changes that install `new` (managed names only; every managed
/// variable `new` leaves out is unset), pushing the identity `env` holds now.
pub fn push(env: &dyn Fn(&str) -> Option<String>, new: &Frame) -> Result<Vec<Change>, BadStack> {
    let mut frames = decode(&env(STACK_VAR).unwrap_or_default())?;
    frames.push(capture(env));
    let mut changes = install(new);
    changes.push((STACK_VAR.to_owned(), Some(encode(&frames))));
    Ok(changes)
}

/// The changes that replace the identity on top with `new`, leaving the
/// stack beneath it alone (a refresh of the same role).
pub fn replace(new: &Frame) -> Vec<Change> {
    install(new)
}

/// The changes that restore the identity before the last assume, or, with
/// nothing to unwind, unset every managed variable.
pub fn pop(env: &dyn Fn(&str) -> Option<String>) -> Result<Vec<Change>, BadStack> {
    let mut frames = decode(&env(STACK_VAR).unwrap_or_default())?;
    let previous = frames.pop().unwrap_or_default();
    let mut changes = install(&previous);
    changes.push((STACK_VAR.to_owned(), if frames.is_empty() { None } else { Some(encode(&frames)) }));
    Ok(changes)
}

/// The identity just beneath the top: what the current one was assumed
/// from (the empty frame when the stack is empty or absent).
pub fn beneath(env: &dyn Fn(&str) -> Option<String>) -> Result<Frame, BadStack> {
    Ok(decode(&env(STACK_VAR).unwrap_or_default())?.pop().unwrap_or_default())
}

fn install(frame: &Frame) -> Vec<Change> {
    MANAGED.iter().map(|name| ((*name).to_owned(), frame.get(*name).cloned())).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn apply(env: &mut HashMap<String, String>, changes: &[Change]) {
        for (k, v) in changes {
            match v {
                Some(v) => env.insert(k.clone(), v.clone()),
                None => env.remove(k),
            };
        }
    }

    fn identity(key: &str) -> Frame {
        [("AWS_ACCESS_KEY_ID", key), ("AWS_SECRET_ACCESS_KEY", "s3cr3t'\""), ("LATCHKEY_ROLE_ARN", key)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn nested_assumes_unwind_one_at_a_time() {
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("AWS_ACCESS_KEY_ID".into(), "AKIAUSER".into());
        env.insert("AWS_SECRET_ACCESS_KEY".into(), "user-secret".into());
        env.insert("AWS_SECURITY_TOKEN".into(), "legacy".into());
        env.insert("HOME".into(), "/home/me".into());
        let original = env.clone();

        let c = push(&|k| env.get(k).cloned(), &identity("ASIAONE")).unwrap();
        apply(&mut env, &c);
        assert_eq!(env["AWS_ACCESS_KEY_ID"], "ASIAONE");
        assert!(!env.contains_key("AWS_SECURITY_TOKEN"));
        let after_one = env.clone();

        let c = push(&|k| env.get(k).cloned(), &identity("ASIATWO")).unwrap();
        apply(&mut env, &c);
        assert_eq!(env["AWS_ACCESS_KEY_ID"], "ASIATWO");
        assert_eq!(beneath(&|k| env.get(k).cloned()).unwrap()["AWS_ACCESS_KEY_ID"], "ASIAONE");

        let c = pop(&|k| env.get(k).cloned()).unwrap();
        apply(&mut env, &c);
        assert_eq!(env, after_one);
        let c = pop(&|k| env.get(k).cloned()).unwrap();
        apply(&mut env, &c);
        assert_eq!(env, original);

        // Nothing left to unwind: everything managed is unset.
        let c = pop(&|k| env.get(k).cloned()).unwrap();
        apply(&mut env, &c);
        assert_eq!(env.len(), 1);
        assert_eq!(env["HOME"], "/home/me");
    }

    #[test]
    fn replace_keeps_the_stack() {
        let changes = replace(&identity("ASIANEW"));
        assert!(changes.iter().all(|(k, _)| k != STACK_VAR));
    }

    #[test]
    fn foreign_stacks_are_refused() {
        assert_eq!(decode("not base64!"), Err(BadStack));
        let foreign = URL_SAFE_NO_PAD.encode(br#"[{"PATH":"/evil"}]"#);
        assert_eq!(decode(&foreign), Err(BadStack));
        assert_eq!(decode(""), Ok(vec![]));
        let frames = vec![identity("A"), Frame::new()];
        assert_eq!(decode(&encode(&frames)), Ok(frames));
    }
}
