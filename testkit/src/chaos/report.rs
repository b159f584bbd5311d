//! One row per scenario, and the Markdown report made of them.

use std::time::Duration;

/// One scenario's line of the report.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Row {
    pub scenario: String,
    /// The guarantee broken on purpose for this run (`scripts/chaos --self-test`), if any.
    #[serde(default)]
    pub sabotage: Option<String>,
    pub attempted: usize,
    pub confirmed: usize,
    /// Confirmed writes answered while the fault was in force.
    pub confirmed_during: usize,
    /// Whether the scenario requires writes confirmed during its fault (all but a partial
    /// partition, where RabbitMQ rightly refuses every write).
    #[serde(default)]
    pub during_required: bool,
    /// Confirmed writes answered after the fault had ended.
    pub confirmed_after: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub unexpected: usize,
    pub recovered: usize,
    /// From the fault to the first confirmed write after it (after the interruption, if writes
    /// were interrupted). None: nothing was confirmed after the fault, which fails the row.
    pub recovery: Option<Duration>,
    /// Whether some write after the fault was not confirmed.
    pub interrupted: bool,
    pub queues_empty: bool,
    /// Attempts that got no answer at all within the client's 15 s: something hung.
    pub hung: usize,
    pub notes: Vec<String>,
}

impl Row {
    /// What the checker found wrong with the data: each of these must be 0.
    pub fn anomalies(&self) -> usize {
        self.lost + self.duplicated + self.unexpected
    }

    /// Why the row fails, if it does.
    pub fn failures(&self) -> Vec<&'static str> {
        let mut failures = Vec::new();
        let checks = [
            (self.lost > 0, "lost"),
            (self.duplicated > 0, "duplicated"),
            (self.unexpected > 0, "unexpected"),
            (!self.queues_empty, "queues not empty"),
            (self.hung > 0, "hung"),
            (
                self.during_required && self.confirmed_during == 0,
                "nothing confirmed during the fault",
            ),
            (
                self.confirmed_after == 0,
                "nothing confirmed after the fault",
            ),
            (self.recovery.is_none(), "never recovered"),
        ];
        for (failed, what) in checks {
            if failed {
                failures.push(what);
            }
        }
        failures
    }

    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }
}

/// The report as Markdown.
pub fn report(rows: &[Row]) -> String {
    let mut text = String::from(
        "# Chaos report\n\n\
         | scenario | attempted | confirmed | during the fault | after the fault | lost | duplicated | unexpected | recovered | time to recover | hung | queues empty | result |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |\n",
    );
    for row in rows {
        let recovery = match row.recovery {
            None => "never".to_owned(),
            Some(d) if row.interrupted => format!("{:.1} s", d.as_secs_f64()),
            Some(d) => format!("{:.1} s (no interruption)", d.as_secs_f64()),
        };
        let failures = row.failures();
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            row.scenario,
            row.attempted,
            row.confirmed,
            row.confirmed_during,
            row.confirmed_after,
            row.lost,
            row.duplicated,
            row.unexpected,
            row.recovered,
            recovery,
            row.hung,
            if row.queues_empty { "yes" } else { "no" },
            if failures.is_empty() {
                "pass".to_owned()
            } else {
                format!("FAIL: {}", failures.join(", "))
            },
        ));
    }
    text.push_str(
        "\nlost = confirmed but missing (or a voter's stored vote older than their last \
         confirmed one); duplicated = applied more than once; unexpected = present but never \
         attempted, or present after a refusal; recovered = not confirmed (503 or no answer) yet \
         present; hung = no answer within the client's 15 s. A scenario also fails when nothing \
         was confirmed during or after its fault.\n",
    );
    push_notes(&mut text, rows);
    text
}

/// The self-test's report: each sabotage, the scenario that ran with it, and whether the
/// checker caught it (a non-zero lost, duplicated or unexpected count).
pub fn self_test_report(rows: &[Row]) -> String {
    let mut text = String::from(
        "# Chaos self-test\n\n\
         Each run breaks one guarantee on purpose; the checker must report it.\n\n\
         | sabotage | scenario | confirmed | lost | duplicated | unexpected | caught |\n\
         | --- | --- | ---: | ---: | ---: | ---: | --- |\n",
    );
    for row in rows {
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            row.sabotage.as_deref().unwrap_or("none"),
            row.scenario,
            row.confirmed,
            row.lost,
            row.duplicated,
            row.unexpected,
            if row.anomalies() > 0 {
                "yes"
            } else {
                "NO: the checker missed it"
            },
        ));
    }
    push_notes(&mut text, rows);
    text
}

fn push_notes(text: &mut String, rows: &[Row]) {
    for row in rows.iter().filter(|row| !row.notes.is_empty()) {
        let title = match &row.sabotage {
            Some(sabotage) => format!("{} with {sabotage}", row.scenario),
            None => row.scenario.clone(),
        };
        text.push_str(&format!("\n## {title}\n\n"));
        for note in &row.notes {
            text.push_str(&format!("- {note}\n"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean() -> Row {
        Row {
            scenario: "x".into(),
            attempted: 10,
            confirmed: 10,
            confirmed_during: 4,
            confirmed_after: 3,
            during_required: true,
            recovery: Some(Duration::from_millis(5)),
            queues_empty: true,
            ..Row::default()
        }
    }

    #[test]
    fn a_clean_row_passes_and_each_finding_fails_it() {
        assert!(clean().passed());
        let broken: [fn(&mut Row); 8] = [
            |row| row.lost = 1,
            |row| row.duplicated = 1,
            |row| row.unexpected = 1,
            |row| row.queues_empty = false,
            |row| row.hung = 1,
            |row| row.confirmed_during = 0,
            |row| row.confirmed_after = 0,
            |row| row.recovery = None,
        ];
        for (n, break_it) in broken.iter().enumerate() {
            let mut row = clean();
            break_it(&mut row);
            assert!(!row.passed(), "finding {n} did not fail the row");
        }
    }

    #[test]
    fn a_partial_partition_may_confirm_nothing_during_its_fault() {
        let mut row = clean();
        row.during_required = false;
        row.confirmed_during = 0;
        assert!(row.passed());
    }

    #[test]
    fn the_report_says_why_a_row_failed() {
        let mut row = clean();
        row.recovery = None;
        row.lost = 2;
        let text = report(&[row]);
        assert!(text.contains("FAIL: lost, never recovered"), "{text}");
        assert!(text.contains("| never |"), "{text}");
    }
}
