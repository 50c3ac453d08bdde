//! Import (operators): upload CSV files, see the data-quality report and what would change
//! (a dry run, nothing written), accept the suggested fixes or not, then apply in one
//! transaction. A table given no file keeps its stored records unless the operator asks to
//! empty it; what applying removes is said first, in words, and must be confirmed. The server
//! checks the role and everything else; this page shows what it says.

use leptos::html;
use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::import::{
    removals, row_names, ImportApplied, ImportPreview, MAX_UPLOAD_BYTES, MAX_UPLOAD_ROWS,
};
use crate::error::AppError;
use crate::ui::card::ScrollTable;
use crate::ui::pages::overview::ErrorNotice;

/// The files and their columns (required ones first), as docs/import.md describes them.
const FILES: [(&str, &str, &str); 3] = [
    (
        "assets",
        "id, kind (substation, bus, line, transformer, generator, load, switch)",
        "name, substation, bus, from_bus, to_bus, element, closed, in_service, source, voltage_kv, rating_mva, p_mw, circuits, length_km, loading_pct, commissioning_year, condition (0–100), customers, region, lat, lon, synthetic",
    ),
    ("maintenance", "id, asset, date (YYYY-MM-DD), kind (inspection, repair, replacement)", "cost, notes, synthetic"),
    ("incidents", "id, asset, started_at (RFC 3339, e.g. 2024-05-01T12:00:00Z)", "restored_at, customers_affected, cause, synthetic"),
];

#[cfg(feature = "hydrate")]
async fn preview_upload(
    form: Option<web_sys::FormData>,
    token: Option<String>,
    fixes: bool,
) -> Result<ImportPreview, AppError> {
    let form = match form {
        Some(form) => form,
        None => web_sys::FormData::new().map_err(|_| AppError::internal())?,
    };
    if let Some(token) = token {
        let _ = form.append_with_str("token", &token);
    }
    let _ = form.set_with_str("fixes", if fixes { "true" } else { "false" });
    crate::api::import::send_preview(form).await
}

#[component]
pub fn Import() -> impl IntoView {
    crate::ui::preload_island("import_view");
    view! {
        <Title text="Import"/>
        <h1>"Import grid data"</h1>
        <ImportView/>
    }
}

/// Upload, check, fix and apply: all in the browser, against the server's import calls.
#[island(lazy)]
fn ImportView() -> impl IntoView {
    let form_ref = NodeRef::<html::Form>::new();
    let fixes = RwSignal::new(false);
    let busy = RwSignal::new(None::<&'static str>);
    let preview = RwSignal::new(None::<Result<ImportPreview, AppError>>);
    let applied = RwSignal::new(None::<Result<ImportApplied, AppError>>);

    // Checks the chosen files, or (with a token) the last upload again with or without fixes.
    let check = move |token: Option<String>| {
        applied.set(None);
        busy.set(Some("Uploading and checking…"));
        #[cfg(feature = "hydrate")]
        {
            let form = if token.is_none() {
                form_ref.get().and_then(|f| web_sys::FormData::new_with_form(&f).ok())
            } else {
                None
            };
            leptos::task::spawn_local(async move {
                let result = preview_upload(form, token, fixes.get_untracked()).await;
                preview.set(Some(result));
                busy.set(None);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = token;
    };
    let apply = move |p: ImportPreview, confirmed: bool| {
        busy.set(Some("Applying (one transaction)…"));
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(async move {
            let result =
                crate::api::import::send_apply(&p.token, p.fixes_applied, p.base_revision, confirmed).await;
            // Applied: the preview is spent (applying it again would be refused as stale).
            if result.is_ok() {
                preview.set(None);
            }
            applied.set(Some(result));
            busy.set(None);
        });
        #[cfg(not(feature = "hydrate"))]
        let _ = (p, confirmed);
    };

    view! {
        <section class="card" aria-labelledby="files-heading">
            <h2 id="files-heading">"Files"</h2>
            <p class="muted">
                {format!(
                    "CSV files, UTF-8 (with or without BOM), comma-separated, one header row; at most {} MB together and {} rows per file. Nothing is written until you apply.",
                    MAX_UPLOAD_BYTES / (1024 * 1024),
                    MAX_UPLOAD_ROWS
                )}
            </p>
            <form node_ref=form_ref data-testid="import-form" on:submit=move |ev| {
                ev.prevent_default();
                check(None);
            }>
                {FILES.iter().map(|(table, required, optional)| view! {
                    <div class="field">
                        <label for=format!("file-{table}")>{format!("{table}.csv")}</label>
                        <input id=format!("file-{table}") type="file" name=*table accept=".csv,text/csv" data-testid=format!("file-{table}")/>
                        <p class="muted small">"Required: " {*required} ". Optional: " {*optional} "."</p>
                        {(*table != "assets").then(|| view! {
                            <p class="muted small">{format!("No file: the stored {} are kept.", row_names(table).1)}</p>
                            <label class="inline">
                                <input type="checkbox" name="replace" value=*table data-testid=format!("replace-{table}")/>
                                {format!(" No file means: remove all stored {}", row_names(table).1)}
                            </label>
                        })}
                    </div>
                }).collect_view()}
                <label class="inline">
                    <input type="checkbox" data-testid="apply-fixes" prop:checked=move || fixes.get()
                        on:change=move |ev| fixes.set(event_target_checked(&ev))/>
                    " Apply the suggested fixes"
                </label>
                <button class="button" type="submit" data-testid="check-import" disabled=move || busy.get().is_some()>"Check (dry run)"</button>
            </form>
            <p role="status" aria-live="polite" data-testid="import-progress">{move || busy.get().unwrap_or_default()}</p>
        </section>
        {move || preview.get().map(|result| match result {
            Err(error) => view! { <ErrorNotice error=error/> }.into_any(),
            Ok(p) => view! { <Report preview=p.clone() fixes=fixes check=check apply=apply busy=busy/> }.into_any(),
        })}
        {move || applied.get().map(|result| match result {
            Err(error) => view! { <ErrorNotice error=error/> }.into_any(),
            Ok(done) if done.unchanged => view! {
                <p class="notice" role="status" data-testid="import-done">"Nothing to change: the grid already holds exactly this data."</p>
            }.into_any(),
            Ok(done) => view! {
                <p class="notice ok" role="status" data-testid="import-done">
                    {format!("Applied as revision {}. ", done.revision)} <a href="/">"See the overview"</a>
                </p>
            }.into_any(),
        })}
    }
}

#[component]
fn Report<C, A>(
    preview: ImportPreview,
    fixes: RwSignal<bool>,
    check: C,
    apply: A,
    busy: RwSignal<Option<&'static str>>,
) -> impl IntoView
where
    C: Fn(Option<String>) + Copy + Send + Sync + 'static,
    A: Fn(ImportPreview, bool) + Clone + Send + Sync + 'static,
{
    let report_href = format!("/import/report.csv?token={}&fixes={}", preview.token, preview.fixes_applied);
    let token = preview.token.clone();
    let shown = preview.issues.len();
    let total = preview.issues_total;
    let p = preview.clone();
    let can_apply = preview.valid && !preview.unchanged;
    let file_rows = preview
        .files
        .iter()
        .map(|f| view! { <tr><td>{f.file.clone()}</td><td>{f.table.clone()}</td><td>{f.rows}</td><td>{f.bytes}</td></tr> })
        .collect_view();
    let completeness_rows = preview
        .files
        .iter()
        .flat_map(|f| {
            f.columns.iter().map(move |c| {
                let share = if f.rows == 0 { "–".to_owned() } else { format!("{:.0} %", c.filled as f64 * 100.0 / f.rows as f64) };
                view! { <tr><td>{f.file.clone()}</td><td>{c.name.clone()}</td><td>{c.filled}</td><td>{share}</td></tr> }
            })
        })
        .collect_view();
    let issue_rows = preview
        .issues
        .iter()
        .map(|i| view! {
            <tr data-testid="import-issue"><td>{i.file.clone()}</td><td>{i.line}</td><td>{i.column.clone()}</td><td>{i.message.clone()}</td></tr>
        })
        .collect_view();
    let fix_rows = preview
        .fixes
        .iter()
        .map(|f| view! { <tr><td>{f.rule.clone()}</td><td>{f.count}</td><td>{f.example.clone()}</td></tr> })
        .collect_view();
    let change_rows = preview
        .changes
        .iter()
        .map(|c| {
            let sample = c.created_ids.iter().map(|id| format!("+{id}"))
                .chain(c.changed_ids.iter().map(|id| format!("~{id}")))
                .chain(c.removed_ids.iter().map(|id| format!("−{id}")))
                .take(8).collect::<Vec<_>>().join(" ");
            view! { <tr data-testid="import-change" data-table=c.table.clone()><td>{c.table.clone()}</td><td>{c.created}</td><td>{c.changed}</td><td>{c.removed}</td><td>{c.unchanged}</td><td>{sample}</td></tr> }
        })
        .collect_view();
    let (valid, unchanged, has_fixes, fixes_applied) =
        (preview.valid, preview.unchanged, !preview.fixes.is_empty(), preview.fixes_applied);
    let removed = removals(&preview.changes);
    let removes = !removed.is_empty();
    let confirmed = RwSignal::new(false);
    let removed_sample = preview
        .changes
        .iter()
        .filter(|c| c.removed > 0)
        .map(|c| {
            let more = if c.removed as usize > c.removed_ids.len() { ", …" } else { "" };
            format!("{}: {}{more}", c.table, c.removed_ids.join(", "))
        })
        .collect::<Vec<_>>();
    let kept = preview
        .kept
        .iter()
        .map(|table| {
            let count = preview.changes.iter().find(|c| &c.table == table).map_or(0, |c| c.unchanged);
            format!("No {table} file: the {count} stored {} are kept.", row_names(table).1)
        })
        .collect::<Vec<_>>();
    view! {
        <section class="card" aria-labelledby="report-heading" data-testid="import-report" data-valid=valid.to_string()>
            <h2 id="report-heading">"Data-quality report"</h2>
            <ScrollTable label="Files read" testid="import-files" headings=&["File", "Table", "Rows", "Bytes"]>
                {file_rows}
            </ScrollTable>
            <h3>"Completeness"</h3>
            <ScrollTable label="Completeness per column" testid="import-completeness" headings=&["File", "Column", "Filled", "Share"]>
                {completeness_rows}
            </ScrollTable>
            <h3>"Problems"</h3>
            <p data-testid="import-issue-count">
                {if total == 0 { "No problems.".to_owned() } else if (shown as u64) < total { format!("{total} problems (the first {shown} are listed).") } else { format!("{total} problems.") }}
                " " <a href=report_href data-testid="import-report-csv" download="gridscope-import-report.csv">"Download the report (CSV)"</a>
            </p>
            <ScrollTable label="Problems" testid="import-issues" headings=&["File", "Line", "Column", "Problem"]>
                {issue_rows}
            </ScrollTable>
            {has_fixes.then(|| view! {
                <h3>{if fixes_applied { "Fixes applied" } else { "Suggested fixes" }}</h3>
                <ScrollTable label="Fixes" testid="import-fixes" headings=&["Rule", "Values", "Example"]>
                    {fix_rows}
                </ScrollTable>
                {(!fixes_applied).then(|| {
                    let token = token.clone();
                    view! {
                        <button class="button" type="button" data-testid="accept-fixes" disabled=move || busy.get().is_some() on:click=move |_| {
                            fixes.set(true);
                            check(Some(token.clone()));
                        }>"Apply the suggested fixes and check again"</button>
                    }
                })}
            })}
        </section>
        {valid.then(|| view! {
            <section class="card" aria-labelledby="changes-heading">
                <h2 id="changes-heading">"What applying would change"</h2>
                {removes.then(|| view! {
                    <div class="notice warn" role="alert" data-testid="import-removals">
                        <p><strong>{format!("Applying removes {}.", removed.join(" and "))}</strong></p>
                        <ul>{removed_sample.iter().map(|line| view! { <li>{line.clone()}</li> }).collect_view()}</ul>
                        <label class="inline">
                            <input type="checkbox" data-testid="confirm-removals" prop:checked=move || confirmed.get()
                                on:change=move |ev| confirmed.set(event_target_checked(&ev))/>
                            " Yes, remove them"
                        </label>
                    </div>
                })}
                {kept.iter().map(|line| view! { <p class="muted" data-testid="import-kept">{line.clone()}</p> }).collect_view()}
                {unchanged.then(|| view! {
                    <p class="notice" data-testid="import-unchanged">"These files match the stored grid exactly (already applied): nothing would change."</p>
                })}
                <ScrollTable label="Changes per table" testid="import-changes" headings=&["Table", "New", "Changed", "Removed", "Unchanged", "For example"]>
                    {change_rows}
                </ScrollTable>
                <button class="button" type="button" data-testid="apply-import"
                    disabled=move || !can_apply || busy.get().is_some() || (removes && !confirmed.get())
                    on:click=move |_| apply(p.clone(), confirmed.get_untracked())>"Apply (in one transaction)"</button>
            </section>
        })}
    }
}
