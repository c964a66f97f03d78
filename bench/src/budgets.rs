//! Instructions and allocations per message, checked against the budgets kept in
//! `bench/budgets.json`. Instructions are counted by callgrind, which is exact and
//! repeatable on a noisy machine; allocations by the counting allocator. Each figure is
//! the difference between two runs (`SMALL` and `LARGE` messages) divided by the
//! difference in messages, so fixed costs cancel out.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::cost::{CostPath, Counted};

const SMALL: u64 = 2_000;
const LARGE: u64 = 6_000;
/// Headroom `--update` adds over a measurement (callgrind counts move by a fraction of
/// a percent with the libc and kernel of the machine).
const HEADROOM: f64 = 1.02;

/// Headroom `--update` adds over an allocation count (which repeats exactly; this only
/// absorbs the rounding of the per-message average).
const ALLOCATION_HEADROOM: f64 = 0.05;

/// The cost per message of one path.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct PerMessage {
    /// Instructions per message.
    pub instructions: f64,
    /// Heap allocations per message.
    pub allocations: f64,
}

/// The budgets file: the most each checked path may cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Budgets {
    /// What the file is.
    #[serde(default)]
    pub about: String,
    /// Per path name (`inbound`, `outbound`).
    pub paths: BTreeMap<String, PerMessage>,
    /// The most allocations per consumed message the framework may add to decoding the
    /// user's type (inbound minus user_decode).
    pub framework_inbound_allocations: f64,
}

/// Every path measured, and the framework's share of the inbound cost.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// Per path name.
    pub paths: BTreeMap<&'static str, PerMessage>,
    /// Inbound minus decoding the user's type.
    pub framework_inbound: PerMessage,
}

/// The default budgets file, next to this crate's manifest.
pub fn default_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("budgets.json")
}

/// Rounds of measurement per path; the least count is kept. Runs of one binary have
/// differed by up to 66 instructions per message inbound: the least is the closest to
/// the code's own cost.
const ROUNDS: usize = 3;

/// Measures every path (callgrind must be installed).
pub fn measure() -> Result<Measured, String> {
    let mut paths = BTreeMap::new();
    for path in CostPath::ALL {
        let mut least: Option<PerMessage> = None;
        for _ in 0..ROUNDS {
            let small = count(path, SMALL)?;
            let large = count(path, LARGE)?;
            let messages = (LARGE - SMALL) as f64;
            let round = PerMessage {
                instructions: (large.0 as f64 - small.0 as f64) / messages,
                allocations: (large.1 as f64 - small.1 as f64) / messages,
            };
            if least.is_none_or(|least| round.instructions < least.instructions) {
                least = Some(round);
            }
        }
        paths.insert(path.name(), least.expect("at least one round"));
    }
    let inbound = paths[CostPath::Inbound.name()];
    let user = paths[CostPath::UserDecode.name()];
    Ok(Measured {
        framework_inbound: PerMessage {
            instructions: inbound.instructions - user.instructions,
            allocations: inbound.allocations - user.allocations,
        },
        paths,
    })
}

/// Instructions (callgrind) and allocations (counting allocator) of one run.
fn count(path: CostPath, messages: u64) -> Result<(u64, u64), String> {
    let exe = std::env::current_exe().map_err(|e| format!("the bench binary's path: {e}"))?;
    let out_file =
        std::env::temp_dir().join(format!("tars-bench-callgrind.{}", std::process::id()));
    let output = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=*cost::measured*")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(&exe)
        .args(["cost", path.name(), &messages.to_string()])
        .output()
        .map_err(|e| {
            format!(
                "could not run valgrind ({e}): install it with `apt-get install -y valgrind` \
                 (scripts/test.sh does)"
            )
        })?;
    let _ = std::fs::remove_file(&out_file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "`cost {}` under callgrind failed:\n{stderr}",
            path.name()
        ));
    }
    let instructions = stderr
        .lines()
        .find_map(|line| line.split("Collected :").nth(1))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no `Collected :` line in callgrind's output:\n{stderr}"))?;
    let counted: Counted = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("`cost {}` printed no counts ({e})", path.name()))?;
    Ok((instructions, counted.allocations))
}

/// Reads the budgets file.
pub fn load(file: &Path) -> Result<Budgets, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("could not read {}: {e}", file.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a budgets file: {e}", file.display()))
}

/// Every figure over its budget, as lines to print.
pub fn violations(measured: &Measured, budgets: &Budgets) -> Vec<String> {
    let mut over = Vec::new();
    for (name, budget) in &budgets.paths {
        let Some(got) = measured.paths.get(name.as_str()) else {
            over.push(format!("{name}: no such path measured"));
            continue;
        };
        if got.instructions > budget.instructions {
            over.push(format!(
                "{name}: {:.0} instructions per message, budget {:.0}",
                got.instructions, budget.instructions
            ));
        }
        if got.allocations > budget.allocations + 1e-6 {
            over.push(format!(
                "{name}: {:.3} allocations per message, budget {:.3}",
                got.allocations, budget.allocations
            ));
        }
    }
    if measured.framework_inbound.allocations > budgets.framework_inbound_allocations + 1e-6 {
        over.push(format!(
            "framework inbound path: {:.3} allocations per message beyond decoding the user's type, budget {:.3}",
            measured.framework_inbound.allocations, budgets.framework_inbound_allocations
        ));
    }
    over
}

/// Lowers each budget to the measurement plus headroom (never raises one).
pub fn lowered(measured: &Measured, mut budgets: Budgets) -> Budgets {
    for (name, budget) in budgets.paths.iter_mut() {
        if let Some(got) = measured.paths.get(name.as_str()) {
            budget.instructions = budget
                .instructions
                .min((got.instructions * HEADROOM).ceil());
            let allocations = ((got.allocations + ALLOCATION_HEADROOM) * 100.0).ceil() / 100.0;
            budget.allocations = budget.allocations.min(allocations);
        }
    }
    budgets
}

/// Writes the budgets file.
pub fn save(file: &Path, budgets: &Budgets) -> Result<(), String> {
    let text = serde_json::to_string_pretty(budgets).expect("budgets serialize") + "\n";
    std::fs::write(file, text).map_err(|e| format!("could not write {}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn per_message(instructions: f64, allocations: f64) -> PerMessage {
        PerMessage {
            instructions,
            allocations,
        }
    }

    fn budgets() -> Budgets {
        Budgets {
            about: String::new(),
            paths: [("inbound".to_owned(), per_message(1000.0, 1.05))].into(),
            framework_inbound_allocations: 1.0,
        }
    }

    fn measured(inbound: PerMessage, framework_allocations: f64) -> Measured {
        Measured {
            paths: [("inbound", inbound)].into(),
            framework_inbound: per_message(0.0, framework_allocations),
        }
    }

    #[test]
    fn figures_over_budget_are_reported_and_those_within_are_not() {
        assert!(violations(&measured(per_message(1000.0, 1.0), 0.0), &budgets()).is_empty());
        let over = violations(&measured(per_message(1001.0, 2.0), 2.0), &budgets());
        assert_eq!(over.len(), 3, "{over:?}");
        assert!(over[0].contains("1001 instructions per message, budget 1000"));
    }

    #[test]
    fn updating_only_ever_lowers_a_budget() {
        let lower = lowered(&measured(per_message(500.0, 0.0), 0.0), budgets());
        assert_eq!(lower.paths["inbound"], per_message(510.0, 0.05));
        let same = lowered(&measured(per_message(5000.0, 3.0), 0.0), budgets());
        assert_eq!(same.paths["inbound"], per_message(1000.0, 1.05));
    }
}
