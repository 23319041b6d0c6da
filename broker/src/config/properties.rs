//! The `server.properties` reader: Java's `Properties.load` format, so a file written for Kafka
//! means the same thing here (separators `=`, `:` or whitespace; `#`/`!` comments; backslash
//! line continuations; `\t \n \r \f \\ \uXXXX` and escaped separators).

/// A properties file that cannot be read as Java properties.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertiesError {
    /// `\u` not followed by four hex digits (Java rejects it the same way).
    #[error("line {line}: malformed \\uXXXX escape")]
    MalformedUnicodeEscape { line: usize },
    /// A `\uXXXX` UTF-16 surrogate without its pair: not a character.
    #[error("line {line}: unpaired \\uXXXX surrogate")]
    UnpairedSurrogate { line: usize },
}

/// The whitespace Java's format knows: space, tab and form feed.
const WHITESPACE: [char; 3] = [' ', '\t', '\u{c}'];

/// Every `(key, value)` pair of a properties text in file order (a later duplicate overrides an
/// earlier one when collected into a map, as in Java).
pub fn parse(text: &str) -> Result<Vec<(String, String)>, PropertiesError> {
    logical_lines(text)
        .into_iter()
        .map(|(line, logical)| {
            let (key, value) = split_key_value(&logical);
            Ok((unescape(key, line)?, unescape(value, line)?))
        })
        .collect()
}

/// The natural lines of a text, ended by `\n`, `\r` or `\r\n`.
fn natural_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(end) = rest.find(['\r', '\n']) else {
            return Some(std::mem::take(&mut rest));
        };
        let line = &rest[..end];
        let terminator = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + terminator..];
        Some(line)
    })
}

/// Whether a line ends in an odd number of backslashes: its last one escapes the line end.
fn continues(line: &str) -> bool {
    line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
}

/// The logical lines with the (1-based) natural line each starts on: leading whitespace
/// dropped, blank and comment lines skipped, continued lines joined without the backslash and
/// without the next line's leading whitespace. A continuation line is never a comment, and a
/// comment line never continues.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut lines = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (index, natural) in natural_lines(text).enumerate() {
        let line = natural.trim_start_matches(WHITESPACE);
        let (start, mut joined) = match pending.take() {
            Some(open) => open,
            None if line.is_empty() || line.starts_with(['#', '!']) => continue,
            None => (index + 1, String::new()),
        };
        if continues(line) {
            joined.push_str(&line[..line.len() - 1]);
            pending = Some((start, joined));
        } else {
            joined.push_str(line);
            lines.push((start, joined));
        }
    }
    // A backslash on the last line continues into nothing; Java drops it.
    lines.extend(pending);
    lines.retain(|(_, line)| !line.is_empty());
    lines
}

/// Split a logical line into its still-escaped key and value: the key ends at the first
/// unescaped `=`, `:` or whitespace; whitespace around the separator is skipped, and a
/// whitespace separator may be followed by one `=` or `:`. Trailing whitespace stays in the value.
fn split_key_value(line: &str) -> (&str, &str) {
    let mut escaped = false;
    let mut key_end = line.len();
    let mut value_start = line.len();
    let mut separated = false;
    for (i, c) in line.char_indices() {
        if !escaped && (c == '=' || c == ':') {
            (key_end, value_start, separated) = (i, i + 1, true);
            break;
        }
        if !escaped && WHITESPACE.contains(&c) {
            (key_end, value_start) = (i, i + 1);
            break;
        }
        escaped = c == '\\' && !escaped;
    }
    let mut value = &line[value_start..];
    loop {
        value = value.trim_start_matches(WHITESPACE);
        match value.strip_prefix(['=', ':']) {
            Some(rest) if !separated => {
                separated = true;
                value = rest;
            }
            _ => break,
        }
    }
    (&line[..key_end], value)
}

/// Resolve the escapes of a key or value: `\t \n \r \f`, `\uXXXX` (UTF-16, so a surrogate pair
/// is two escapes), and any other escaped character stands for itself.
fn unescape(text: &str, line: usize) -> Result<String, PropertiesError> {
    let mut units: Vec<u16> = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let resolved = match c {
            '\\' => match chars.next() {
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    // Four hex digits exactly: `from_str_radix` alone would accept `+12`.
                    let four_hex = hex.len() == 4 && hex.chars().all(|h| h.is_ascii_hexdigit());
                    let unit = u16::from_str_radix(&hex, 16)
                        .ok()
                        .filter(|_| four_hex)
                        .ok_or(PropertiesError::MalformedUnicodeEscape { line })?;
                    units.push(unit);
                    continue;
                }
                Some('t') => '\t',
                Some('n') => '\n',
                Some('r') => '\r',
                Some('f') => '\u{c}',
                Some(other) => other,
                None => continue,
            },
            other => other,
        };
        let mut buf = [0u16; 2];
        units.extend_from_slice(resolved.encode_utf16(&mut buf));
    }
    String::from_utf16(&units).map_err(|_| PropertiesError::UnpairedSurrogate { line })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        parse(text).expect("valid properties")
    }

    fn one(text: &str) -> (String, String) {
        let mut all = pairs(text);
        assert_eq!(all.len(), 1, "{text:?} gives {all:?}");
        all.remove(0)
    }

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn equals_colon_and_whitespace_all_separate_key_from_value() {
        assert_eq!(one("a=1"), kv("a", "1"));
        assert_eq!(one("a:1"), kv("a", "1"));
        assert_eq!(one("a 1"), kv("a", "1"));
        assert_eq!(one("a\t1"), kv("a", "1"));
        assert_eq!(one("a\u{c}1"), kv("a", "1"));
    }

    #[test]
    fn whitespace_around_the_separator_is_skipped_but_trailing_whitespace_kept() {
        assert_eq!(one("  a  =  1 "), kv("a", "1 "));
        assert_eq!(one("a : 1"), kv("a", "1"));
        // A whitespace separator may be followed by one `=` or `:`, no more.
        assert_eq!(one("a = = 1"), kv("a", "= 1"));
        assert_eq!(one("a   :b"), kv("a", "b"));
        // After `=`, a second separator belongs to the value.
        assert_eq!(one("a==1"), kv("a", "=1"));
        assert_eq!(one("a=:1"), kv("a", ":1"));
        assert_eq!(one("url=http://h:1"), kv("url", "http://h:1"));
    }

    #[test]
    fn a_key_alone_has_an_empty_value() {
        assert_eq!(one("a"), kv("a", ""));
        assert_eq!(one("a="), kv("a", ""));
        assert_eq!(one("a   "), kv("a", ""));
        assert_eq!(one("=1"), kv("", "1"));
    }

    #[test]
    fn hash_and_bang_lines_are_comments_and_blank_lines_are_skipped() {
        let text = "# comment\n! also a comment\n   # indented comment\n\n   \t\na=1\n";
        assert_eq!(pairs(text), vec![kv("a", "1")]);
        // Only at the start of a line: elsewhere they are ordinary characters.
        assert_eq!(one("a=1 # not a comment"), kv("a", "1 # not a comment"));
        assert_eq!(one("a#b=!c"), kv("a#b", "!c"));
    }

    #[test]
    fn every_line_terminator_ends_a_line() {
        assert_eq!(
            pairs("a=1\nb=2\r\nc=3\rd=4"),
            vec![kv("a", "1"), kv("b", "2"), kv("c", "3"), kv("d", "4")]
        );
    }

    #[test]
    fn a_trailing_backslash_continues_the_line_without_the_next_lines_indent() {
        assert_eq!(
            one("a=one, \\\n    two, \\\n\tthree"),
            kv("a", "one, two, three")
        );
        assert_eq!(one("a=1\\\r\n  2"), kv("a", "12"));
        assert_eq!(one("a=1\\\r  2"), kv("a", "12"));
        // The key itself may continue.
        assert_eq!(one("lo\\\n  ng=1"), kv("long", "1"));
        // A continuation line starting with `#` is not a comment.
        assert_eq!(one("a=\\\n  #1"), kv("a", "#1"));
        // A blank line ends the continued line.
        assert_eq!(pairs("a=1\\\n\nb=2"), vec![kv("a", "1"), kv("b", "2")]);
        // At the end of the text the backslash continues into nothing.
        assert_eq!(one("a=1\\"), kv("a", "1"));
    }

    #[test]
    fn an_even_run_of_backslashes_does_not_continue() {
        assert_eq!(pairs("a=1\\\\\nb=2"), vec![kv("a", "1\\"), kv("b", "2")]);
        assert_eq!(one("a=1\\\\\\\n2"), kv("a", "1\\2"));
    }

    #[test]
    fn a_comment_line_never_continues() {
        assert_eq!(pairs("# comment \\\na=1"), vec![kv("a", "1")]);
    }

    #[test]
    fn escapes_resolve_in_keys_and_values() {
        assert_eq!(one(r"a=\t\n\r\f\\"), kv("a", "\t\n\r\u{c}\\"));
        assert_eq!(one(r"a=\u0041\u00e9\u20AC"), kv("a", "Aé€"));
        // A surrogate pair is two escapes, as Java's chars are UTF-16.
        assert_eq!(one(r"a=\uD83D\uDE00"), kv("a", "😀"));
        // Any other escaped character stands for itself.
        assert_eq!(one(r"a=\q\#\!"), kv("a", "q#!"));
        assert_eq!(one(r"t\u0061b\tle=1"), kv("tab\tle", "1"));
        // An escaped leading space is kept.
        assert_eq!(one(r"a=\ 1"), kv("a", " 1"));
    }

    #[test]
    fn escaped_separators_belong_to_the_key() {
        assert_eq!(one(r"a\=b=1"), kv("a=b", "1"));
        assert_eq!(one(r"a\:b:1"), kv("a:b", "1"));
        assert_eq!(one(r"a\ b 1"), kv("a b", "1"));
        assert_eq!(one(r"a\\=1"), kv("a\\", "1"));
    }

    #[test]
    fn a_malformed_unicode_escape_is_an_error_naming_its_line() {
        for bad in [r"a=\u12", r"a=\u12G4", r"a=\u"] {
            assert_eq!(
                parse(&format!("# first\nok=1\n{bad}")),
                Err(PropertiesError::MalformedUnicodeEscape { line: 3 }),
                "{bad}"
            );
        }
        assert_eq!(
            parse(r"a=\uD83D"),
            Err(PropertiesError::UnpairedSurrogate { line: 1 })
        );
    }

    #[test]
    fn errors_name_the_line_a_continued_line_starts_on() {
        assert_eq!(
            parse("ok=1\na=\\\n  \\u12"),
            Err(PropertiesError::MalformedUnicodeEscape { line: 2 })
        );
    }

    #[test]
    fn a_kafka_server_properties_reads_as_before() {
        let text = "\
# Broker settings
num.partitions=3
log.retention.ms = 604800000
listeners: PLAINTEXT://0.0.0.0:9092
auto.create.topics.enable true
";
        assert_eq!(
            pairs(text),
            vec![
                kv("num.partitions", "3"),
                kv("log.retention.ms", "604800000"),
                kv("listeners", "PLAINTEXT://0.0.0.0:9092"),
                kv("auto.create.topics.enable", "true"),
            ]
        );
    }
}
