//! `sb-sample list`: every dataset, its Hub repo, tasks and flags.

use crate::datasets::ALL;
use std::io::Write;

pub fn print() -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for d in ALL {
        writeln!(out, "{}", d.name())?;
        writeln!(out, "  {}", d.about())?;
        writeln!(out, "  hub:   {}", d.hub_repo().unwrap_or("- (synthetic or local file)"))?;
        for (i, t) in d.tasks().iter().enumerate() {
            let api = if t.chat { "chat" } else { "completions" };
            let default = if i == 0 { ", default" } else { "" };
            writeln!(out, "  task:  {} ({api}{default}): {}", t.name, t.about)?;
        }
        writeln!(out, "  flags: {}", d.flags())?;
        writeln!(out)?;
    }
    Ok(())
}
