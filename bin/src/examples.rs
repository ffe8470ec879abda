//! The examples every `--help` ends with. A test parses each of them, and
//! every natscope command line quoted in README.md and docs/*.md, with the
//! real argument definitions: a renamed or removed flag fails it.

/// `natscope interfaces`.
pub const INTERFACES: &str = "Examples:
  natscope interfaces
  natscope interfaces --format json";

/// `natscope stun`.
pub const STUN: &str = "Examples:
  natscope stun                                   # the documented public servers (docs/servers.md)
  natscope stun stun:stun.example.org:3478 192.0.2.1 --tcp
  natscope stun --ice-servers ice.json --timeout 2s --format json";

/// `natscope turn`.
pub const TURN: &str = "Examples:
  natscope turn turn:turn.example.org turns:turn.example.org --username alice --password s3cret
  natscope turn turn:turn.example.org --turn-secret \"$SECRET\" --rest-ttl 10m   # coturn use-auth-secret
  natscope turn --ice-servers ice.json --stage-timeout 3s -o turn.html
  natscope turn --audit turn:turn.example.org turns:turn.example.org:443 --username alice --password s3cret
  natscope turn --load turn:turn.example.org --username alice --password s3cret \\
      --allocations 200 --rate 50 --duration 1m --ramp 20s --i-own-this-server -o load.html";

/// `natscope lab`.
pub const LAB: &str = "Examples:
  sudo natscope lab up --nat adm --name demo
  sudo natscope lab exec client --name demo -- natscope nat stun:203.0.113.100
  sudo natscope lab down --name demo";

/// `natscope serve`.
pub const SERVE: &str = "Examples:
  natscope serve --primary 192.0.2.10 --alternate 192.0.2.11
  natscope serve --primary 127.0.0.1 --port 0 --metrics 127.0.0.1:9464 -v
  natscope serve --rendezvous --rendezvous-listen 0.0.0.0:8478      # for natscope peer (docs/rendezvous.md)
  natscope serve --rendezvous --rendezvous-listen 0.0.0.0:443 --rendezvous-cert chain.pem --rendezvous-key key.pem";

/// `natscope ice`.
pub const ICE: &str = "Examples:
  natscope ice --stun stun:stun.example.org --turn turn:turn.example.org --username alice --password s3cret
  natscope ice --ice-servers ice.json --filter relay-relay --connect-timeout 5s";

/// `natscope peer`.
pub const PEER: &str = "Examples:
  natscope peer --rendezvous https://rv.example.org --stun stun:stun.example.org
  natscope peer --rendezvous https://rv.example.org k7qd-2mfa-x9rt-w3hc --stun stun:stun.example.org
  natscope peer --rendezvous https://rv.example.org --ice-servers ice.json -o peer.json
  natscope peer --rendezvous https://rv.internal:8478 --rendezvous-ca ca.pem --stun stun:stun.example.org --step-timeout 20s";

/// `natscope browser`.
pub const BROWSER: &str = "Examples:
  natscope browser --lab --headless chromium
  natscope browser --ice-servers ice.json
  natscope browser turn:turn.example.org --username alice --password s3cret --headless firefox -o browser.html";

/// `natscope report`.
pub const REPORT: &str = "Examples:
  natscope report render natscope.json -o natscope.html
  natscope report render natscope.json --format table
  natscope report render a.json b.json -o session.html    # both sides of one natscope peer session";

/// `natscope nat`.
pub const NAT: &str = "Examples:
  natscope nat stun:stun.example.org:3478
  natscope nat --ice-servers ice.json --lifetime 2m --port-samples 8";

/// `natscope portmap`.
pub const PORTMAP: &str = "Examples:
  natscope portmap
  natscope portmap --stun stun:stun.example.org --portmap-timeout 1s";

/// `natscope diagnose`.
pub const DIAGNOSE: &str = "Examples:
  natscope diagnose --lab                         # natscope's own servers on loopback
  natscope diagnose --ice-servers ice.json --ca ca.pem -o report.html
  natscope diagnose turn:turn.example.org --turn-secret \"$SECRET\" --timeout 1m \\
      --require udp,turn-udp --format json";

/// `natscope watch`.
pub const WATCH: &str = "Examples:
  natscope watch --ice-servers ice.json --every 60s --labels site=office,network=wifi
  natscope watch --lab --every 10s --listen 127.0.0.1:9464
  natscope watch --once --push http://127.0.0.1:9091/metrics/job/natscope/site/office
  natscope watch --config /etc/natscope/watch.args      # kill -HUP re-reads it";

/// `natscope completions`.
pub const COMPLETIONS: &str = "Examples:
  natscope completions bash > /etc/bash_completion.d/natscope
  natscope completions zsh > \"${fpath[1]}/_natscope\"
  natscope completions fish > ~/.config/fish/completions/natscope.fish";

/// `natscope man`.
pub const MAN: &str = "Examples:
  natscope man > natscope.1 && man -l natscope.1";

#[cfg(test)]
mod tests {
    use crate::Cli;
    use clap::error::{ContextKind, ErrorKind};
    use clap::{CommandFactory, Parser};
    use std::path::{Path, PathBuf};

    /// The repository's root (bin/ is one level below it).
    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    /// Splits a quoted command line into the arguments natscope gets:
    /// leading `sudo`, `$ ` and `VAR=value` dropped, `cargo run --release
    /// --` read as `natscope`, cut at the first shell operator or comment.
    /// `None`: not a natscope command line.
    fn natscope_args(line: &str) -> Option<Vec<String>> {
        let line = line.trim().trim_start_matches("$ ");
        let line = line.replace("\\|", " | ");
        let words = shlex::split(&line)?;
        let mut words = words.into_iter().peekable();
        while words
            .peek()
            .is_some_and(|w| w == "sudo" || (w.contains('=') && !w.starts_with('-')))
        {
            words.next();
        }
        let mut args = match words.next()?.as_str() {
            "natscope" => vec!["natscope".to_owned()],
            "cargo" => {
                let rest: Vec<String> = words.by_ref().take(3).collect();
                if rest != ["run", "--release", "--"] {
                    return None;
                }
                vec!["natscope".to_owned()]
            }
            _ => return None,
        };
        for w in words {
            if matches!(
                w.as_str(),
                "|" | ">" | ">>" | "&&" | "||" | ";" | "&" | "2>&1"
            ) || w.starts_with('#')
            {
                break;
            }
            args.push(w.trim_end_matches("...").to_owned());
        }
        Some(args)
    }

    /// A usage line's optional groups (`[--lab]`): the line without any,
    /// and with each one alone (so flags that exclude each other can sit
    /// side by side in a usage line and each is still checked).
    fn variants(line: &str) -> Vec<String> {
        // Top-level text and `[...]` groups, in order.
        let mut parts: Vec<(bool, String)> = vec![(false, String::new())];
        let mut depth = 0usize;
        for c in line.chars() {
            match c {
                '[' if depth == 0 => {
                    depth = 1;
                    parts.push((true, String::new()));
                }
                ']' if depth == 1 => {
                    depth = 0;
                    parts.push((false, String::new()));
                }
                _ => {
                    if c == '[' {
                        depth += 1;
                    } else if c == ']' && depth > 1 {
                        depth -= 1;
                    }
                    if let Some((_, text)) = parts.last_mut() {
                        text.push(c);
                    }
                }
            }
        }
        let groups = parts.iter().filter(|(g, _)| *g).count();
        let render = |keep: Option<usize>| {
            let mut n = 0;
            let mut out = String::new();
            for (is_group, text) in &parts {
                if *is_group {
                    if keep == Some(n) {
                        out.push_str(text);
                    }
                    n += 1;
                    out.push(' ');
                } else {
                    out.push_str(text);
                }
            }
            out.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        std::iter::once(render(None))
            .chain((0..groups).map(|i| render(Some(i))))
            .collect()
    }

    /// Parses a command line with natscope's definitions; the error text
    /// when it does not parse.
    /// `in_prose`: an inline mention, which may leave out required
    /// arguments. A usage placeholder (`--primary ADDR`: an upper-case
    /// word) is accepted where a value is checked.
    fn check(args: &[String], in_prose: bool) -> Result<(), String> {
        match Cli::try_parse_from(args) {
            Ok(_) => Ok(()),
            Err(e) => {
                let placeholder = e.get(ContextKind::InvalidValue).is_some_and(|v| {
                    v.to_string()
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                });
                match e.kind() {
                    ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => Ok(()),
                    ErrorKind::MissingRequiredArgument if in_prose => Ok(()),
                    ErrorKind::ValueValidation | ErrorKind::InvalidValue if placeholder => Ok(()),
                    _ => Err(e.to_string()),
                }
            }
        }
    }

    /// Every command line a markdown file quotes, and whether it is a
    /// code block's line (an example: must parse as it stands) or an
    /// inline span (may name a command without its required arguments).
    /// Code blocks have `\` continuations joined; spans may run over a
    /// line break. Placeholders in angle brackets (`natscope <command>`)
    /// are not command lines.
    fn quoted_lines(text: &str) -> Vec<(String, bool)> {
        let mut out = Vec::new();
        let mut in_block = false;
        let mut pending = String::new();
        let mut para = String::new();
        let spans = |para: &mut String, out: &mut Vec<(String, bool)>| {
            for (i, span) in para.split('`').enumerate() {
                if i % 2 == 1 && !span.contains('<') {
                    out.push((span.to_owned(), false));
                }
            }
            para.clear();
        };
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                spans(&mut para, &mut out);
                in_block = !in_block;
                continue;
            }
            if in_block {
                let l = line.trim_end();
                if let Some(head) = l.strip_suffix('\\') {
                    pending.push_str(head);
                    pending.push(' ');
                    continue;
                }
                pending.push_str(l);
                out.push((std::mem::take(&mut pending), true));
            } else if line.trim().is_empty() {
                spans(&mut para, &mut out);
            } else {
                para.push_str(line.trim());
                para.push(' ');
            }
        }
        spans(&mut para, &mut out);
        out
    }

    #[test]
    fn the_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_help_example_parses() {
        let all = [
            super::INTERFACES,
            super::STUN,
            super::TURN,
            super::LAB,
            super::SERVE,
            super::ICE,
            super::REPORT,
            super::NAT,
            super::PORTMAP,
            super::DIAGNOSE,
            super::WATCH,
            super::COMPLETIONS,
            super::MAN,
        ];
        let mut checked = 0;
        for text in all {
            for (line, _) in quoted_lines(&format!("```\n{text}\n```")) {
                let Some(args) = natscope_args(&line) else {
                    continue;
                };
                checked += 1;
                if let Err(e) = check(&args, false) {
                    panic!("help example does not parse: {line}\n{e}");
                }
            }
        }
        assert!(checked >= 24, "only {checked} examples found");
        // Every subcommand's help ends with its examples.
        let mut cmd = Cli::command();
        for sub in cmd.get_subcommands_mut() {
            let help = sub.render_long_help().to_string();
            assert!(help.contains("Examples:"), "{}: no example", sub.get_name());
        }
    }

    /// The test targets a `cargo test --test NAME` line may name.
    fn test_targets() -> Vec<String> {
        let manifest = std::fs::read_to_string(root().join("bin/Cargo.toml")).expect("manifest");
        manifest
            .split("[[test]]")
            .skip(1)
            .filter_map(|t| {
                let name = t.lines().find(|l| l.trim_start().starts_with("name"))?;
                Some(name.split('"').nth(1)?.to_owned())
            })
            .collect()
    }

    #[test]
    fn every_command_line_in_the_docs_parses() {
        let mut files = vec![root().join("README.md")];
        let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
            .expect("docs/")
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "md"))
            .collect();
        docs.sort();
        files.extend(docs);
        let targets = test_targets();
        let mut failures = Vec::new();
        let mut checked = 0;
        for file in &files {
            let text = std::fs::read_to_string(file).expect("doc readable");
            let name = file
                .strip_prefix(root())
                .unwrap_or(file)
                .display()
                .to_string();
            for (line, in_block) in quoted_lines(&text) {
                if let Some(rest) = line.trim().strip_prefix("cargo test") {
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    for w in words.windows(2).filter(|w| w[0] == "--test") {
                        if !targets.iter().any(|t| t == w[1]) {
                            failures.push(format!("{name}: {line}\n  no test target {}", w[1]));
                        }
                    }
                    continue;
                }
                for variant in variants(&line) {
                    let Some(args) = natscope_args(&variant) else {
                        continue;
                    };
                    checked += 1;
                    if let Err(e) = check(&args, !in_block) {
                        let first = e.lines().next().unwrap_or_default().to_owned();
                        failures.push(format!("{name}: {line}\n  {first}"));
                    }
                }
            }
        }
        assert!(checked >= 40, "only {checked} command lines found");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Every long flag of every command (with aliases).
    fn all_flags(cmd: &clap::Command, out: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            out.extend(
                a.get_long_and_visible_aliases()
                    .into_iter()
                    .flatten()
                    .map(str::to_owned),
            );
        }
        for sub in cmd.get_subcommands() {
            all_flags(sub, out);
        }
    }

    #[test]
    fn every_flag_the_docs_name_exists() {
        let mut flags = vec!["help".to_owned(), "version".to_owned()];
        all_flags(&Cli::command(), &mut flags);
        let mut files = vec![root().join("README.md")];
        files.extend(
            std::fs::read_dir(root().join("docs"))
                .expect("docs/")
                .map(|e| e.expect("directory entry").path())
                .filter(|p| p.extension().is_some_and(|e| e == "md")),
        );
        let mut unknown = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file).expect("doc readable");
            for (span, in_block) in quoted_lines(&text) {
                if in_block {
                    continue;
                }
                // A span that is a flag (`--timeout`, `--rest-ttl 600`,
                // `--no-nat/--no-turn`): natscope's own flags only (the
                // docs also quote coturn's and cargo's).
                for word in span.split(['/', ' ', ',']) {
                    let Some(name) = word.strip_prefix("--") else {
                        continue;
                    };
                    let name = name.split('=').next().unwrap_or_default();
                    if name.is_empty() || !span.trim_start().starts_with("--") {
                        continue;
                    }
                    if !flags.iter().any(|f| f == name) {
                        unknown.push(format!("{}: `{span}`", file.display()));
                    }
                }
            }
        }
        assert!(
            unknown.is_empty(),
            "flags natscope does not have:\n{}",
            unknown.join("\n")
        );
    }

    #[test]
    fn usage_groups_are_tried_one_at_a_time() {
        assert_eq!(
            variants("natscope diagnose [--lab] [SERVER...]"),
            [
                "natscope diagnose",
                "natscope diagnose --lab",
                "natscope diagnose SERVER..."
            ]
        );
        assert_eq!(
            natscope_args("NATSCOPE_X=1 sudo natscope lab down --all # comment | x"),
            Some(vec![
                "natscope".into(),
                "lab".into(),
                "down".into(),
                "--all".into()
            ])
        );
        assert_eq!(natscope_args("natscope/3 schema"), None);
    }
}
