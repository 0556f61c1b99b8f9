//! Lines for a shell to `eval`: quoting for each shell, and the leading
//! space that keeps them out of history under `HISTCONTROL=ignorespace`
//! (bash) and `setopt HIST_IGNORE_SPACE` (zsh); fish never records lines
//! starting with a space.

use std::fmt::Write as _;

/// The shell the lines are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    /// bash, zsh and other POSIX shells: `export NAME='value'`, `unset NAME`.
    Posix,
    /// fish: `set -gx NAME 'value'`, `set -e NAME`.
    Fish,
}

/// One change to the environment: set a variable, or unset it (`None`).
pub type Change = (String, Option<String>);

/// `value` as one single-quoted word of `shell`.
pub fn quote(shell: Shell, value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        match (shell, c) {
            // POSIX single quotes allow no escape: close, escaped quote, reopen.
            (Shell::Posix, '\'') => out.push_str("'\\''"),
            // fish single quotes know exactly two escapes.
            (Shell::Fish, '\'') => out.push_str("\\'"),
            (Shell::Fish, '\\') => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Whether `name` is a variable name every shell accepts unquoted.
pub fn is_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The lines that apply `changes` in `shell`, each starting with a space and
/// ending with a newline. Names that are not plain variable names are
/// skipped (they never come from latchkey itself).
pub fn render(shell: Shell, changes: &[Change]) -> String {
    let mut out = String::new();
    for (name, value) in changes {
        if !is_var_name(name) {
            continue;
        }
        let _ = match (shell, value) {
            (Shell::Posix, Some(v)) => writeln!(out, " export {name}={}", quote(shell, v)),
            (Shell::Posix, None) => writeln!(out, " unset {name}"),
            (Shell::Fish, Some(v)) => writeln!(out, " set -gx {name} {}", quote(shell, v)),
            (Shell::Fish, None) => writeln!(out, " set -e {name}"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_quoting_survives_single_quotes() {
        assert_eq!(quote(Shell::Posix, "abc"), "'abc'");
        assert_eq!(quote(Shell::Posix, "it's"), "'it'\\''s'");
        assert_eq!(quote(Shell::Posix, "a\\b $x `y`"), "'a\\b $x `y`'");
    }

    #[test]
    fn fish_quoting_escapes_quote_and_backslash() {
        assert_eq!(quote(Shell::Fish, "it's"), "'it\\'s'");
        assert_eq!(quote(Shell::Fish, "a\\b $x"), "'a\\\\b $x'");
    }

    #[test]
    fn every_line_starts_with_a_space() {
        let changes = vec![("A".to_owned(), Some("1".to_owned())), ("B".to_owned(), None)];
        let posix = render(Shell::Posix, &changes);
        assert_eq!(posix, " export A='1'\n unset B\n");
        let fish = render(Shell::Fish, &changes);
        assert_eq!(fish, " set -gx A '1'\n set -e B\n");
        assert!(posix.lines().chain(fish.lines()).all(|l| l.starts_with(' ')));
    }

    #[test]
    fn odd_names_are_never_rendered() {
        let changes = vec![("A;rm -rf /".to_owned(), Some("x".to_owned())), ("1A".to_owned(), None)];
        assert_eq!(render(Shell::Posix, &changes), "");
    }
}
