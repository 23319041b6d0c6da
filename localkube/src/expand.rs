//! Kubernetes `$(VAR)` expansion (pure), as the kubelet applies it to env values, command and args.
//!
//! `$(NAME)` is replaced by the variable's value when it is defined and left untouched otherwise;
//! `$$` escapes a dollar, so `$$(NAME)` yields the literal `$(NAME)`; any other `$` stays as it is.

/// Expands `$(NAME)` references in `input` using `lookup`.
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(end) => {
                    let name = &body[..end];
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "POD_IP" => Some("127.20.0.5".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_defined_and_keeps_undefined() {
        assert_eq!(
            expand("PLAINTEXT://$(POD_IP):9092", env),
            "PLAINTEXT://127.20.0.5:9092"
        );
        assert_eq!(expand("$(NOPE)-$(EMPTY)-x", env), "$(NOPE)--x");
    }

    #[test]
    fn dollar_escapes_and_stray_dollars() {
        assert_eq!(expand("$$(POD_IP)", env), "$(POD_IP)");
        assert_eq!(expand("a$b$$c$", env), "a$b$c$");
        assert_eq!(expand("$(POD_IP", env), "$(POD_IP");
    }

    proptest::proptest! {
        #[test]
        fn text_without_dollars_is_unchanged(s in "[^$]*") {
            proptest::prop_assert_eq!(expand(&s, env), s);
        }

        #[test]
        fn undefined_references_survive(name in "[A-Z_]{1,10}") {
            let s = format!("x$({name})y");
            let expected = if name == "POD_IP" { "x127.20.0.5y".to_owned() } else if name == "EMPTY" { "xy".to_owned() } else { s.clone() };
            proptest::prop_assert_eq!(expand(&s, env), expected);
        }
    }
}
