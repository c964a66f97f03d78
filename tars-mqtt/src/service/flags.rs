//! The command line of a `#[tars::service]` binary. A service is configured by its
//! environment; its only flags explain it, and none of them connects to a broker.

/// What the command line asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Invocation {
    /// No argument: run the service.
    Run,
    /// `--help`/`-h`: what the service is, its handlers, events and variables.
    Help,
    /// `--version`/`-V`: its name and version.
    Version,
    /// `--check`: validate the configuration and print it, secrets masked.
    Check,
    /// `--asyncapi`: print its AsyncAPI document.
    AsyncApi,
}

/// The flags, for error messages.
pub(crate) const KNOWN_FLAGS: &str = "--help (-h), --version (-V), --check, --asyncapi";

/// Reads the arguments after the program name. `--help` wins over any other flag; two
/// other flags, or anything unknown, is an error naming the known flags.
pub(crate) fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Invocation, String> {
    let mut chosen = Invocation::Run;
    for arg in args {
        let flag = match arg.as_str() {
            "-h" | "--help" => return Ok(Invocation::Help),
            "-V" | "--version" => Invocation::Version,
            "--check" => Invocation::Check,
            "--asyncapi" => Invocation::AsyncApi,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; a tars service is configured by its environment \
                     (see --help) and takes only {KNOWN_FLAGS}"
                ))
            }
        };
        if chosen != Invocation::Run && chosen != flag {
            return Err(format!(
                "{arg} cannot be combined with another flag; give one of {KNOWN_FLAGS}"
            ));
        }
        chosen = flag;
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(args: &[&str]) -> Result<Invocation, String> {
        parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[test]
    fn each_flag_is_read() {
        assert_eq!(parse_all(&[]), Ok(Invocation::Run));
        assert_eq!(parse_all(&["--help"]), Ok(Invocation::Help));
        assert_eq!(parse_all(&["-h"]), Ok(Invocation::Help));
        assert_eq!(parse_all(&["--version"]), Ok(Invocation::Version));
        assert_eq!(parse_all(&["-V"]), Ok(Invocation::Version));
        assert_eq!(parse_all(&["--check"]), Ok(Invocation::Check));
        assert_eq!(parse_all(&["--asyncapi"]), Ok(Invocation::AsyncApi));
    }

    #[test]
    fn help_wins_and_other_pairs_are_refused() {
        assert_eq!(parse_all(&["--check", "--help"]), Ok(Invocation::Help));
        assert!(parse_all(&["--check", "--asyncapi"]).is_err());
        assert_eq!(parse_all(&["--check", "--check"]), Ok(Invocation::Check));
    }

    #[test]
    fn an_unknown_argument_names_the_known_flags() {
        let error = parse_all(&["--port", "8080"]).unwrap_err();
        assert!(error.contains("\"--port\""), "{error}");
        assert!(error.contains(KNOWN_FLAGS), "{error}");
    }
}
