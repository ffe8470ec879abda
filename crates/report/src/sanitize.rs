//! Sanitising of untrusted strings (STUN SOFTWARE, error texts, anything that
//! came from the network or a file) before they reach a terminal or HTML.

/// Make a string safe to print on a terminal.
///
/// Removes ANSI/terminal escape sequences (CSI `ESC [ ...`, OSC `ESC ] ...`
/// up to BEL or ST, DCS/SOS/PM/APC strings up to ST, two-byte `ESC x`
/// sequences, and their C1 single-character forms such as `\u{9b}`), then
/// every remaining C0/C1 control character and DEL. Tabs, line breaks and
/// other whitespace controls become a plain space so a value stays on one
/// line and words stay apart. Unicode bidirectional overrides/isolates
/// (U+202A–U+202E, U+2066–U+2069) are removed too, so text cannot be
/// visually reordered.
pub fn terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // nF sequences: intermediates 0x20-0x2F, then one final byte.
                Some(' '..='/') => {
                    while chars.next_if(|c| matches!(c, ' '..='/')).is_some() {}
                    chars.next();
                }
                // Fp/Fe/Fs two-character sequences (ESC 7, ESC c, ...) or a
                // lone ESC at the end.
                Some(_) | None => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            '\t' | '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => {
                out.push(' ')
            }
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// [`terminal`], then cut to at most `max` characters (an ellipsis marks a
/// cut).
pub fn terminal_short(s: &str, max: usize) -> String {
    let clean = terminal(s);
    if clean.chars().count() <= max {
        return clean;
    }
    let mut cut: String = clean.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Skip a CSI sequence body: parameter bytes 0x30–0x3F, intermediate bytes
/// 0x20–0x2F, then one final byte 0x40–0x7E. Stops early (dropping only what
/// belongs to the sequence) at any other character.
fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.next_if(|c| matches!(c, '0'..='?')).is_some() {}
    while chars.next_if(|c| matches!(c, ' '..='/')).is_some() {}
    chars.next_if(|c| matches!(c, '@'..='~'));
}

/// Skip a control string (OSC, DCS, SOS, PM, APC) up to and including its
/// terminator: BEL, ST (`ESC \`) or C1 ST (`\u{9c}`). An unterminated string
/// swallows the rest of the input.
fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{07}' | '\u{9c}' => return,
            '\u{1b}' => {
                chars.next_if_eq(&'\\');
                return;
            }
            _ => {}
        }
    }
}

/// Escape a string for HTML text and attribute values: `&`, `<`, `>`, `"`
/// and `'`.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_clean(s: &str) {
        assert!(
            !s.chars().any(|c| c.is_control()),
            "control character left in {s:?}"
        );
    }

    #[test]
    fn strips_csi_sequences() {
        assert_eq!(terminal("a\u{1b}[2Jb"), "ab");
        assert_eq!(terminal("\u{1b}[1;31mred\u{1b}[0m"), "red");
        assert_eq!(terminal("x\u{1b}[?25ly"), "xy");
        assert_eq!(terminal("c1\u{9b}2Jcsi"), "c1csi");
    }

    #[test]
    fn strips_osc_hyperlinks_and_titles() {
        let link = "\u{1b}]8;;https://evil.example/\u{1b}\\click\u{1b}]8;;\u{1b}\\";
        assert_eq!(terminal(link), "click");
        assert_eq!(terminal("\u{1b}]0;owned title\u{07}after"), "after");
        assert_eq!(terminal("\u{9d}0;t\u{9c}ok"), "ok");
        // Unterminated: the rest is swallowed, nothing leaks.
        assert_eq!(terminal("pre\u{1b}]52;c;AAAA"), "pre");
    }

    #[test]
    fn strips_dcs_and_other_escapes() {
        assert_eq!(terminal("a\u{1b}P1$r\u{1b}\\b"), "ab");
        assert_eq!(terminal("a\u{1b}cb"), "ab");
        assert_eq!(terminal("a\u{1b}(0b"), "ab");
        assert_eq!(terminal("end\u{1b}"), "end");
    }

    #[test]
    fn strips_control_characters_keeps_spaces() {
        assert_eq!(terminal("ding\u{07}dong"), "dingdong");
        assert_eq!(terminal("ok\rFAKE"), "ok FAKE");
        assert_eq!(terminal("a\nb\tc"), "a b c");
        assert_eq!(terminal("nul\0del\u{7f}c1\u{85}x\u{8d}"), "nuldelc1 x");
        assert_eq!(terminal("plain text, ünïcode ✓"), "plain text, ünïcode ✓");
        assert_eq!(terminal("a\u{202e}gnp.exe"), "agnp.exe");
    }

    #[test]
    fn hostile_mix_is_clean() {
        let hostile = "coturn\u{1b}[2J\u{1b}]8;;http://x/\u{7}\u{9b}31m\r\n\u{7}\u{1b}[0m4.6";
        let out = terminal(hostile);
        assert_clean(&out);
        assert!(!out.contains('\u{1b}'));
        assert!(out.starts_with("coturn"));
        // Every char value alone, and after ESC / C1 CSI, yields clean output.
        for b in 0u32..0x100 {
            let c = char::from_u32(b).expect("values below 0x100 are chars");
            assert_clean(&terminal(&format!("{c}x")));
            assert_clean(&terminal(&format!("\u{1b}{c}x")));
            assert_clean(&terminal(&format!("\u{9b}{c}x")));
        }
    }

    #[test]
    fn short_cuts_after_cleaning() {
        assert_eq!(terminal_short("\u{1b}[2Jabcdef", 4), "abc…");
        assert_eq!(terminal_short("abc", 4), "abc");
    }

    #[test]
    fn html_escapes_everything_dangerous() {
        assert_eq!(
            html_escape("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
        );
        assert_eq!(html_escape("a=\"b\" & c"), "a=&quot;b&quot; &amp; c");
        assert_eq!(html_escape("&amp;"), "&amp;amp;");
        assert_eq!(html_escape("plain"), "plain");
    }
}
