//! Printing Arrow results the three ways verbs offer: a table for people, JSON and CSV
//! for programs.

use arrow::array::RecordBatch;

/// How to print rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Boxed text table.
    Table,
    /// One JSON array of objects.
    Json,
    /// CSV with a header row.
    Csv,
}

impl Format {
    /// Pick from the `--json` / `--csv` flags.
    pub fn from_flags(json: bool, csv: bool) -> anyhow::Result<Format> {
        match (json, csv) {
            (true, true) => anyhow::bail!("--json and --csv cannot be combined"),
            (true, false) => Ok(Format::Json),
            (false, true) => Ok(Format::Csv),
            (false, false) => Ok(Format::Table),
        }
    }
}

/// Render batches in `format`.
pub fn render(batches: &[RecordBatch], format: Format) -> anyhow::Result<String> {
    match format {
        Format::Table => Ok(arrow::util::pretty::pretty_format_batches(batches)?.to_string()),
        Format::Json => {
            let mut writer = arrow::json::ArrayWriter::new(Vec::new());
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            let mut text = String::from_utf8(writer.into_inner())?;
            if text.is_empty() {
                text.push_str("[]");
            }
            Ok(text)
        }
        Format::Csv => {
            let mut out = Vec::new();
            {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                for batch in batches {
                    writer.write(batch)?;
                }
            }
            Ok(String::from_utf8(out)?)
        }
    }
}
