//! `lockstep test [--select ...]`: run the models' data tests, print failures with
//! up to five sample rows, record every result in `meta.test_results`, and exit
//! non-zero when any test fails or errors (a failed test blocks the syncs reading
//! that model).

use std::path::Path;

use super::output::{Format, render};
use crate::config::Project;
use crate::model;
use crate::warehouse::Warehouse;

/// Arguments of `lockstep test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Models whose tests run, dbt style (`a`, `+a`, `a+`); default: all.
    #[arg(long, short = 's', value_delimiter = ',')]
    pub select: Vec<String>,
    /// Print the results (with sample rows) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Run the verb.
pub async fn run(project: &Path, args: TestArgs) -> anyhow::Result<()> {
    let project = Project::load(project)?;
    let warehouse = Warehouse::for_project(&project)?;
    let report = model::test(&project, &warehouse, &args.select).await?;
    let failed = report
        .outcomes
        .iter()
        .filter(|o| o.status != "pass")
        .count();
    if args.json {
        let mut outcomes = Vec::new();
        for o in &report.outcomes {
            let mut value = serde_json::to_value(o)?;
            let sample: serde_json::Value =
                serde_json::from_str(&render(&o.sample, Format::Json)?)?;
            if let Some(map) = value.as_object_mut() {
                map.insert("sample".into(), sample);
            }
            outcomes.push(value);
        }
        let out = serde_json::json!({
            "run_at": report.run_at,
            "passed": report.passed(),
            "outcomes": outcomes,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for o in &report.outcomes {
            let label = format!("{}.{}", o.test.model, o.test.name);
            match o.status {
                "pass" => println!("PASS  {label}"),
                "fail" => {
                    println!("FAIL  {label}: {} failing row(s)", o.failing_rows);
                    println!("{}", render(&o.sample, Format::Table)?);
                }
                _ => println!(
                    "ERROR {label}: {}",
                    o.message.as_deref().unwrap_or("the test query failed")
                ),
            }
        }
        println!(
            "{} test(s): {} passed, {failed} failed",
            report.outcomes.len(),
            report.outcomes.len() - failed
        );
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} data test(s) failed (recorded in meta.test_results; syncs reading those models are blocked)",
            report.outcomes.len()
        );
    }
    Ok(())
}
