//! `ssl.principal.mapping.rules`: Kafka's rules turning a client certificate's subject (RFC 2253
//! form) into a principal name — `RULE:pattern/replacement/[LU],...,DEFAULT`, read and applied
//! as Kafka's `SslPrincipalMapper` does (Java regular expressions and replacement strings).

use regex::{Captures, Regex};
use std::fmt;

/// Kafka's default: the whole distinguished name.
pub const DEFAULT_RULES: &str = "DEFAULT";

/// The rule grammar, as Kafka writes it (group 1 DEFAULT, 2 pattern, 4 replacement, 6 case).
const RULE_PATTERN: &str = r"(DEFAULT)|RULE:((\\.|[^\\/])*)/((\\.|[^\\/])*)/([LU]?).*?|(.*?)";

/// An invalid rule, with Kafka's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    #[error("invalid rule: `{rule}`, unmatched substring: `{rest}`")]
    Unmatched { rule: String, rest: String },
    #[error("invalid rule: `{rule}`: {reason}")]
    Pattern { rule: String, reason: String },
    #[error("no rules apply to {dn}, rules {rules}")]
    NoMatchingRule { dn: String, rules: String },
}

/// The parsed rules, tried in order; the first that applies names the principal.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        /// The pattern as written (for `Display`) and compiled.
        source: String,
        pattern: Regex,
        /// `^(?:pattern)$`: Java's `Matcher.matches()`.
        whole: Regex,
        /// The replacement as written, and translated to the regex crate's syntax.
        replacement: String,
        expansion: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

impl PrincipalMapper {
    /// Parses `ssl.principal.mapping.rules`.
    pub fn parse(rules: &str) -> Result<Self, MappingError> {
        let parser = Regex::new(&format!("^(?:{RULE_PATTERN})")).map_err(|e| bad("", &e))?;
        let rules = split_rules(rules)?
            .into_iter()
            .filter_map(|rule| parse_rule(&parser, &rule).transpose())
            .collect::<Result<_, _>>()?;
        Ok(PrincipalMapper { rules })
    }

    /// The principal name for a subject, or `NoMatchingRule` (Kafka then fails the
    /// authentication).
    pub fn name(&self, dn: &str) -> Result<String, MappingError> {
        self.rules
            .iter()
            .find_map(|r| r.apply(dn))
            .ok_or_else(|| MappingError::NoMatchingRule {
                dn: dn.to_string(),
                rules: format!("[{}]", self.rules_text()),
            })
    }

    fn rules_text(&self) -> String {
        self.rules
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for PrincipalMapper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SslPrincipalMapper(rules = [{}])", self.rules_text())
    }
}

fn bad(rule: &str, e: &regex::Error) -> MappingError {
    MappingError::Pattern {
        rule: rule.to_string(),
        reason: e.to_string(),
    }
}

/// Every non-overlapping match from the start, as Java's `Matcher.find()` loop reports them
/// (an empty match right after a non-empty one counts; after an empty one the search moves on
/// by one character).
fn java_find_all<'h>(re: &Regex, haystack: &'h str) -> Vec<Captures<'h>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at <= haystack.len() {
        let Some(c) = re.captures_at(haystack, at) else {
            break;
        };
        let whole = c.get(0).map_or(at..at, |m| m.range());
        at = if whole.is_empty() {
            whole.end
                + haystack[whole.end..]
                    .chars()
                    .next()
                    .map_or(1, char::len_utf8)
        } else {
            whole.end
        };
        out.push(c);
    }
    out
}

fn split_rules(rules: &str) -> Result<Vec<String>, MappingError> {
    let splitter =
        Regex::new(&format!(r"\s*({RULE_PATTERN})\s*(,\s*|$)")).map_err(|e| bad("", &e))?;
    Ok(java_find_all(&splitter, rules.trim())
        .iter()
        .map(|c| c.get(1).map_or("", |m| m.as_str()).to_string())
        .collect())
}

fn parse_rule(parser: &Regex, rule: &str) -> Result<Option<Rule>, MappingError> {
    let c = parser
        .captures(rule)
        .ok_or_else(|| MappingError::Unmatched {
            rule: rule.to_string(),
            rest: rule.to_string(),
        })?;
    let end = c.get(0).map_or(0, |m| m.end());
    if end != rule.len() {
        return Err(MappingError::Unmatched {
            rule: rule.to_string(),
            rest: rule[end..].to_string(),
        });
    }
    if c.get(1).is_some() {
        return Ok(Some(Rule::Default));
    }
    let Some(pattern) = c.get(2) else {
        // An empty rule is ignored.
        return Ok(None);
    };
    let source = pattern.as_str().to_string();
    let compiled = Regex::new(&source).map_err(|e| bad(rule, &e))?;
    let whole = Regex::new(&format!("^(?:{source})$")).map_err(|e| bad(rule, &e))?;
    let replacement = c.get(4).map_or("", |m| m.as_str()).to_string();
    let expansion = java_replacement(&replacement, compiled.captures_len() - 1);
    let case = match c.get(6).map(|m| m.as_str()) {
        Some("L") => Case::Lower,
        Some("U") => Case::Upper,
        _ => Case::Keep,
    };
    Ok(Some(Rule::Replace {
        source,
        pattern: compiled,
        whole,
        replacement,
        expansion,
        case,
    }))
}

/// Translates a Java replacement string (`$n` group references taking as many digits as name an
/// existing group, `${name}`, `\x` for a literal x) into the regex crate's syntax. A reference
/// to a group the pattern does not have stays literal text, as Kafka makes it.
fn java_replacement(java: &str, groups: usize) -> String {
    let mut out = String::with_capacity(java.len() + 8);
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(x) => out.push(x),
                None => {}
            },
            '$' if chars.peek() == Some(&'{') => {
                out.push('$');
                for x in chars.by_ref() {
                    out.push(x);
                    if x == '}' {
                        break;
                    }
                }
            }
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = 0usize;
                let mut digits = String::new();
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    let next = n * 10 + d as usize;
                    if !digits.is_empty() && next > groups {
                        break;
                    }
                    n = next;
                    digits.push(char::from_digit(d, 10).unwrap_or('0'));
                    chars.next();
                }
                if n > groups {
                    out.push_str("$$");
                    out.push_str(&digits);
                } else {
                    out.push_str(&format!("${{{n}}}"));
                }
            }
            '$' => out.push_str("$$"),
            x => out.push(x),
        }
    }
    out
}

impl Rule {
    fn apply(&self, dn: &str) -> Option<String> {
        let Rule::Replace {
            pattern,
            whole,
            expansion,
            case,
            ..
        } = self
        else {
            return Some(dn.to_string());
        };
        if !whole.is_match(dn) {
            return None;
        }
        // Java's `String.replaceAll`: every match, left to right.
        let mut out = String::with_capacity(dn.len());
        let mut last = 0;
        for c in java_find_all(pattern, dn) {
            let Some(m) = c.get(0) else { continue };
            out.push_str(&dn[last..m.start()]);
            c.expand(expansion, &mut out);
            last = m.end();
        }
        out.push_str(&dn[last..]);
        Some(match case {
            Case::Keep => out,
            Case::Lower => out.to_lowercase(),
            Case::Upper => out.to_uppercase(),
        })
    }
}

impl fmt::Display for Rule {
    /// As Kafka's `Rule.toString()`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Default => f.write_str("DEFAULT"),
            Rule::Replace {
                source,
                replacement,
                case,
                ..
            } => {
                write!(f, "RULE:{source}/{replacement}")?;
                match case {
                    Case::Lower => f.write_str("/L"),
                    Case::Upper => f.write_str("/U"),
                    Case::Keep => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Kafka's `SslPrincipalMapperTest`, case for case.
    use super::*;

    #[test]
    fn kafkas_valid_rules_parse() {
        for rules in [
            "DEFAULT",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L, DEFAULT",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L",
            "RULE:^cn=(.?),ou=(.?),dc=(.?),dc=(.?)$/$1@$2/U",
            "RULE:^CN=([^,ADEFLTU,]+)(,.*|$)/$1/",
            "RULE:^CN=([^,DEFAULT,]+)(,.*|$)/$1/",
        ] {
            PrincipalMapper::parse(rules).unwrap_or_else(|e| panic!("{rules}: {e}"));
        }
    }

    #[test]
    fn kafkas_invalid_rules_are_refused() {
        for rules in [
            "default",
            "DEFAUL",
            "DEFAULT/L",
            "DEFAULT/U",
            "RULE:CN=(.*?),OU=ServiceUsers.*/$1",
            "rule:^CN=(.*?),OU=ServiceUsers.*$/$1/",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/L",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/U",
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/LU",
        ] {
            assert!(PrincipalMapper::parse(rules).is_err(), "{rules}");
        }
    }

    #[test]
    fn kafkas_mapping_examples() {
        let rules = [
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/L",
            "RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L",
            "RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U",
            "RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U",
            "DEFAULT",
        ]
        .join(", ");
        let m = PrincipalMapper::parse(&rules).expect("rules");
        let name = |dn: &str| m.name(dn).expect("a rule applies");
        assert_eq!(name("CN=Duke,OU=ServiceUsers,O=Org,C=US"), "duke");
        assert_eq!(
            name("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US"),
            "duke@sme"
        );
        assert_eq!(name("cn=duke,ou=sme,dc=mycp,dc=com"), "DUKE@SME");
        assert_eq!(name("cN=duke,OU=JavaSoft,O=Sun Microsystems"), "DUKE");
        assert_eq!(
            name("OU=JavaSoft,O=Sun Microsystems,C=US"),
            "OU=JavaSoft,O=Sun Microsystems,C=US"
        );
    }

    #[test]
    fn the_docs_example_and_no_matching_rule() {
        // Kafka's documentation, "Customizing SSL User Name".
        let m = PrincipalMapper::parse(
            "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\
             RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,\
             RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/L,\
             DEFAULT",
        )
        .expect("rules");
        assert_eq!(
            m.name("CN=serviceuser,OU=ServiceUsers,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .expect("name"),
            "serviceuser"
        );
        assert_eq!(
            m.name("CN=adminUser,OU=Admin,O=Unknown,L=Unknown,ST=Unknown,C=Unknown")
                .expect("name"),
            "adminuser@admin"
        );
        let only = PrincipalMapper::parse("RULE:^CN=(.*?),O=Eddy$/$1/").expect("rules");
        assert_eq!(only.name("CN=alice,O=Eddy").expect("name"), "alice");
        assert!(matches!(
            only.name("CN=mallory,O=Other"),
            Err(MappingError::NoMatchingRule { .. })
        ));
        // A reference to a group the pattern lacks stays literal.
        let lit = PrincipalMapper::parse("RULE:^CN=(.*)$/$1@$4/").expect("rules");
        assert_eq!(lit.name("CN=bob").expect("name"), "bob@$4");
    }

    fn splits(expected: &str, rules: &str) {
        let m = PrincipalMapper::parse(rules).unwrap_or_else(|e| panic!("{rules}: {e}"));
        assert_eq!(
            m.to_string(),
            format!("SslPrincipalMapper(rules = {expected})"),
            "{rules}"
        );
    }

    #[test]
    fn kafkas_rule_splitting() {
        splits("[]", "");
        splits("[DEFAULT]", "DEFAULT");
        splits("[RULE:/]", "RULE://");
        splits("[RULE:/.*]", "RULE:/.*/");
        splits("[RULE:/.*/L]", "RULE:/.*/L");
        splits("[RULE:/, DEFAULT]", "RULE://,DEFAULT");
        splits("[RULE:/, DEFAULT]", "  RULE:// ,  DEFAULT  ");
        splits(
            "[RULE:   /     , DEFAULT]",
            "  RULE:   /     / ,  DEFAULT  ",
        );
        splits(
            "[RULE:  /     /U, DEFAULT]",
            "  RULE:  /     /U   ,DEFAULT  ",
        );
        splits(
            "[RULE:([A-Z]*)/$1/U, RULE:([a-z]+)/$1, DEFAULT]",
            "  RULE:([A-Z]*)/$1/U   ,RULE:([a-z]+)/$1/,   DEFAULT  ",
        );
        splits("[]", ",   , , ,      , , ,   ");
        splits("[RULE:/, DEFAULT]", ",,RULE://,,,DEFAULT,,");
        splits(
            "[RULE: /   , DEFAULT]",
            ",  , RULE: /   /    ,,,   DEFAULT, ,   ",
        );
        splits(
            "[RULE:   /  /U, DEFAULT]",
            "     ,  , RULE:   /  /U    ,,  ,DEFAULT, ,",
        );
        splits(r"[RULE:\/\\\(\)\n\t/\/\/]", r"RULE:\/\\\(\)\n\t/\/\//");
        splits(
            r"[RULE:\**\/+/*/L, RULE:\/*\**/**]",
            r"RULE:\**\/+/*/L,RULE:\/*\**/**/",
        );
        splits(
            r"[RULE:,RULE:,/,RULE:,\//U, RULE:,/RULE:,, RULE:,RULE:,/L,RULE:,/L, RULE:, DEFAULT, /DEFAULT, DEFAULT]",
            r"RULE:,RULE:,/,RULE:,\//U,RULE:,/RULE:,/,RULE:,RULE:,/L,RULE:,/L,RULE:, DEFAULT, /DEFAULT/,DEFAULT",
        );
    }

    #[test]
    fn kafkas_comma_with_whitespace() {
        let m =
            PrincipalMapper::parse(r"RULE:^CN=((\\, *|\w)+)(,.*|$)/$1/,DEFAULT").expect("rules");
        assert_eq!(
            m.name(r"CN=Tkac\, Adam,OU=ITZ,DC=geodis,DC=cz")
                .expect("name"),
            r"Tkac\, Adam"
        );
    }
}
