//! Command-line flags for the bench binaries: `--name value`, `--name=value`, repeatable flags,
//! switches without a value, and everything after `--` passed through untouched. Parsed by
//! `lexopt` (no dependencies, no build-time cost); this adds the flag table on top.

use std::str::FromStr;

/// Parsed flags.
#[derive(Debug, Clone, Default)]
pub struct Args {
    values: Vec<(String, String)>,
    switches: Vec<String>,
    /// What followed `--`.
    pub rest: Vec<String>,
}

impl Args {
    /// `switches` are the flags that take no value; `known` lists every accepted flag, so a typo
    /// is an error rather than a silently ignored setting.
    ///
    /// # Errors
    /// An unknown flag, a positional argument, or a flag missing its value.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        known: &[&str],
        switches: &[&str],
    ) -> Result<Args, String> {
        use lexopt::Arg::{Long, Short, Value};
        let mut out = Args::default();
        let mut args: Vec<String> = args.into_iter().collect();
        // Everything after `--` goes through untouched (lexopt would hand it back as values).
        if let Some(at) = args.iter().position(|a| a == "--") {
            out.rest = args.split_off(at + 1);
            args.pop();
        }
        let mut parser = lexopt::Parser::from_args(args);
        let text = |v: std::ffi::OsString| v.into_string().map_err(|_| "arguments must be UTF-8");
        while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
            let name = match arg {
                Long(name) if known.contains(&name) => name.to_owned(),
                Long(name) => return Err(format!("unknown flag --{name}")),
                Short(c) => return Err(format!("unknown flag -{c}")),
                Value(v) => return Err(format!("unexpected argument {v:?}")),
            };
            if switches.contains(&name.as_str()) {
                if parser.optional_value().is_some() {
                    return Err(format!("--{name} takes no value"));
                }
                out.switches.push(name);
            } else {
                let value = parser
                    .value()
                    .map_err(|_| format!("--{name} needs a value"))?;
                out.values.push((name, text(value)?.to_owned()));
            }
        }
        Ok(out)
    }

    /// The last value given for `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value given for a repeatable flag, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn has(&self, switch: &str) -> bool {
        self.switches.iter().any(|s| s == switch)
    }

    /// # Errors
    /// The flag is missing.
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    /// The flag's value parsed, or `default` when absent.
    ///
    /// # Errors
    /// The value does not parse.
    pub fn parse_or<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name}: cannot read {v:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(
            args.iter().map(|s| (*s).to_owned()),
            &["runs", "env", "quick", "url"],
            &["quick"],
        )
    }

    #[test]
    fn values_switches_and_the_rest_after_the_separator() {
        let a = parse(&[
            "--runs",
            "5",
            "--env=A=1",
            "--env",
            "B=2",
            "--quick",
            "--",
            "-t2",
            "--x",
        ])
        .unwrap();
        assert_eq!(a.parse_or("runs", 1u32).unwrap(), 5);
        assert_eq!(a.all("env"), ["A=1", "B=2"]);
        assert!(a.has("quick"));
        assert_eq!(a.rest, ["-t2", "--x"]);
    }

    #[test]
    fn the_last_value_of_a_flag_wins_and_absent_ones_default() {
        let a = parse(&["--runs", "1", "--runs", "2"]).unwrap();
        assert_eq!(a.get("runs"), Some("2"));
        assert_eq!(a.parse_or("url", "x".to_owned()).unwrap(), "x");
        assert!(a.required("url").is_err());
    }

    #[test]
    fn typos_positionals_and_missing_values_are_errors() {
        assert!(parse(&["--rnus", "1"]).is_err());
        assert!(parse(&["runs"]).is_err());
        assert!(parse(&["--runs"]).is_err());
        assert!(parse(&["--quick=yes"]).is_err());
        assert!(
            parse(&["--runs", "many"])
                .unwrap()
                .parse_or("runs", 1u32)
                .is_err()
        );
    }
}
