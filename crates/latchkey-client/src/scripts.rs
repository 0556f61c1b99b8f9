//! `latchkey shell-init`: a shell function named `latchkey` that evals what
//! `assume` and `unassume` print, so typing `latchkey assume ROLE` exports
//! directly; and, optionally, a prompt hook that refreshes the assumed
//! session shortly before it expires.

/// The shells `shell-init` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitShell {
    Bash,
    Zsh,
    Fish,
}

const POSIX_WRAPPER: &str = r#"# latchkey shell integration: `latchkey assume`/`unassume` export directly.
latchkey() {
    case "${1-}" in
        assume|unassume|refresh)
            case " $* " in
                *" -h "*|*" --help "*) command latchkey "$@"; return ;;
            esac
            local __latchkey_out __latchkey_status
            __latchkey_out="$(LATCHKEY_FORMAT=env command latchkey "$@")"
            __latchkey_status=$?
            case "$__latchkey_out" in
                " "*) eval "$__latchkey_out" ;;
                "") ;;
                *) printf '%s\n' "$__latchkey_out" ;;
            esac
            return $__latchkey_status
            ;;
        *) command latchkey "$@" ;;
    esac
}
"#;

const POSIX_HOOK: &str = r#"# Refresh the assumed session when it is about to expire.
__latchkey_refresh() {
    [ -n "${LATCHKEY_TARGET-}" ] || return 0
    local __latchkey_out
    __latchkey_out="$(LATCHKEY_FORMAT=env command latchkey refresh --quiet)" || return 0
    case "$__latchkey_out" in " "*) eval "$__latchkey_out" ;; esac
}
"#;

const FISH_WRAPPER: &str = r#"# latchkey shell integration: `latchkey assume`/`unassume` export directly.
function latchkey --wraps latchkey --description 'latchkey; assume/unassume export into this shell'
    switch "$argv[1]"
        case assume unassume refresh
            if contains -- -h $argv; or contains -- --help $argv
                command latchkey $argv
                return
            end
            set -l __latchkey_out (env LATCHKEY_FORMAT=fish latchkey $argv)
            set -l __latchkey_status $status
            if string match -q -- ' *' "$__latchkey_out[1]"
                printf '%s\n' $__latchkey_out | source
            else if test -n "$__latchkey_out"
                printf '%s\n' $__latchkey_out
            end
            return $__latchkey_status
        case '*'
            command latchkey $argv
    end
end
"#;

const FISH_HOOK: &str = r#"# Refresh the assumed session when it is about to expire.
function __latchkey_refresh --on-event fish_prompt
    set -q LATCHKEY_TARGET; or return 0
    set -l __latchkey_out (env LATCHKEY_FORMAT=fish latchkey refresh --quiet); or return 0
    if string match -q -- ' *' "$__latchkey_out[1]"
        printf '%s\n' $__latchkey_out | source
    end
end
"#;

/// The script for `shell`, with the refresh hook when `hook`.
pub fn script(shell: InitShell, hook: bool) -> String {
    let mut out = String::new();
    match shell {
        InitShell::Bash | InitShell::Zsh => out.push_str(POSIX_WRAPPER),
        InitShell::Fish => out.push_str(FISH_WRAPPER),
    }
    if hook {
        match shell {
            InitShell::Bash => {
                out.push_str(POSIX_HOOK);
                out.push_str(
                    "case \";${PROMPT_COMMAND-};\" in\n    *\";__latchkey_refresh;\"*) ;;\n    *) PROMPT_COMMAND=\"__latchkey_refresh${PROMPT_COMMAND:+;$PROMPT_COMMAND}\" ;;\nesac\n",
                );
            }
            InitShell::Zsh => {
                out.push_str(POSIX_HOOK);
                out.push_str("autoload -Uz add-zsh-hook\nadd-zsh-hook precmd __latchkey_refresh\n");
            }
            InitShell::Fish => out.push_str(FISH_HOOK),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_and_hooks() {
        let bash = script(InitShell::Bash, false);
        assert!(bash.contains("latchkey() {") && !bash.contains("PROMPT_COMMAND"));
        assert!(script(InitShell::Bash, true).contains("PROMPT_COMMAND"));
        assert!(script(InitShell::Zsh, true).contains("add-zsh-hook precmd"));
        let fish = script(InitShell::Fish, true);
        assert!(fish.contains("function latchkey") && fish.contains("--on-event fish_prompt"));
    }
}
