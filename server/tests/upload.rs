//! Operator data import in the browser, through the real server: every kind of bad file is
//! refused or reported precisely (file, line, column) with nothing written; suggested fixes
//! are applied only when asked; the dry run previews the changes; applying is one transaction,
//! audited, recognised when repeated, refused (409) while another import runs or after the
//! grid changed; viewers cannot import; exports neutralise spreadsheet formulas.

mod common;

use app::api::auth::Role;
use app::api::import::{ImportApplied, ImportPreview};
use common::{client, TestServer};

const PASSWORD: &str = "operator passphrase for imports";

const GOOD: &str = "\
id,kind,name,bus,from_bus,to_bus,source,voltage_kv,customers,region
b1,bus,Bus 1,,,,,20,,North
b2,bus,Bus 2,,,,,20,,North
g1,generator,Grid,b1,,,true,,,
l1,line,Line 1,,b1,b2,,,,
d2,load,Load 2,b2,,,,,120,
";

const MAINTENANCE: &str = "id,asset,date,kind,cost,notes\nm1,l1,2024-03-01,inspection,800,ok\n";

struct Importer {
    server: TestServer,
    cookie: String,
}

impl Importer {
    async fn start() -> Importer {
        let server = TestServer::start(&[
            ("GRIDSCOPE_COOKIE_SECURE", "false"),
            ("GRIDSCOPE_RATE_EXPENSIVE_PER_MINUTE", "10000"),
        ])
        .await;
        server.add_user("imp", Role::Operator, PASSWORD).await;
        let cookie = server.sign_in("imp", PASSWORD).await;
        let importer = Importer { server, cookie };
        // A stored grid to compare against.
        let first = importer.preview(&[("assets", "assets.csv", GOOD.as_bytes().to_vec())], false).await;
        assert!(first.valid, "{first:?}");
        let applied = importer.apply(&first, false).await;
        assert_eq!(applied.status(), 200);
        importer
    }

    async fn upload(
        &self,
        files: &[(&str, &str, Vec<u8>)],
        extra: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut form = reqwest::multipart::Form::new();
        for (field, name, bytes) in files {
            form = form.part(
                field.to_string(),
                reqwest::multipart::Part::bytes(bytes.clone()).file_name(name.to_string()),
            );
        }
        for (k, v) in extra {
            form = form.text(k.to_string(), v.to_string());
        }
        // From the import page, as a browser sends it.
        let mut request = client()
            .post(self.server.url("/import/preview"))
            .header("origin", &self.server.base)
            .multipart(form);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        request.send().await.unwrap()
    }

    async fn preview(&self, files: &[(&str, &str, Vec<u8>)], fixes: bool) -> ImportPreview {
        let response =
            self.upload(files, &[("fixes", if fixes { "true" } else { "false" })], Some(&self.cookie)).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Applies as the page does once the operator has confirmed any removal the preview
    /// showed (applying without that confirmation is refused: see
    /// `a_table_without_a_file_is_kept_and_removals_need_confirmation`).
    async fn apply(&self, preview: &ImportPreview, fixes: bool) -> reqwest::Response {
        self.apply_confirming(preview, fixes, true).await
    }

    async fn apply_confirming(
        &self,
        preview: &ImportPreview,
        fixes: bool,
        confirm: bool,
    ) -> reqwest::Response {
        let base = preview.base_revision.to_string();
        self.server
            .post(
                "/import/apply",
                &[
                    ("token", &preview.token),
                    ("fixes", if fixes { "true" } else { "false" }),
                    ("base_revision", &base),
                    ("confirm_removals", if confirm { "true" } else { "false" }),
                ],
                Some(&self.cookie),
            )
            .await
    }

    /// The stored grid's revision and assets, to prove nothing was written.
    async fn stored(&self) -> (u64, usize) {
        let config =
            server::config::Config { data_dir: self.server.dir.path().join("data"), ..Default::default() };
        let snapshot = server::commands::open_store(&config).unwrap().snapshot().await.unwrap();
        (snapshot.meta.revision, snapshot.data.assets.len())
    }

    /// Uploads `assets` alone and expects exactly one refusal naming `line` and `column`
    /// whose message contains `words`, and nothing written.
    async fn refused(&self, assets: Vec<u8>, line: u64, column: &str, words: &str) -> ImportPreview {
        let before = self.stored().await;
        let preview = self.preview(&[("assets", "assets.csv", assets)], false).await;
        assert!(!preview.valid, "{preview:?}");
        let issue = preview
            .issues
            .iter()
            .find(|i| i.message.contains(words))
            .unwrap_or_else(|| panic!("no issue with '{words}': {:?}", preview.issues));
        assert_eq!(
            (issue.file.as_str(), issue.line, issue.column.as_str()),
            ("assets.csv", line, column),
            "{issue:?}"
        );
        assert!(preview.changes.is_empty());
        let apply = self.apply(&preview, false).await;
        assert_eq!(apply.status(), 400, "an invalid upload cannot be applied");
        assert_eq!(self.stored().await, before, "nothing written");
        preview
    }
}

#[tokio::test]
async fn bad_files_are_refused_precisely_and_nothing_is_written() {
    let imp = Importer::start().await;
    // Ragged rows.
    let ragged = format!("{GOOD}b3,bus,Bus 3,,,\n");
    imp.refused(ragged.into_bytes(), 7, "", "this row has 6 fields where the header has 10").await;
    // Non-UTF-8 bytes (Latin-1 'é' in a name on line 3).
    let mut latin1 = GOOD.replace("Bus 2", "Bus X").into_bytes();
    let at = latin1.windows(5).position(|w| w == b"Bus X").unwrap() + 4;
    latin1[at] = 0xE9;
    imp.refused(latin1, 3, "", "not UTF-8").await;
    // NUL bytes.
    imp.refused(GOOD.replace("Line 1", "Line\u{0}1").into_bytes(), 5, "", "NUL byte").await;
    // A 10 MB field.
    let huge = GOOD.replace("Load 2", &"x".repeat(10 * 1024 * 1024));
    imp.refused(huge.into_bytes(), 6, "name", "longer than 1000 characters").await;
    // A million rows (the upload limit is 500 000).
    let mut million = String::from("id,kind\n");
    for i in 0..1_000_000 {
        million.push_str(&format!("b{i},bus\n"));
    }
    let preview = imp.refused(million.into_bytes(), 500_002, "", "more than 500000 rows").await;
    assert_eq!(preview.files[0].rows, 500_000);
    // Formula cells.
    let formula = GOOD.replace("Line 1", "=HYPERLINK(\"http://x\";\"Line 1\")");
    imp.refused(formula.into_bytes(), 5, "name", "starts like a spreadsheet formula").await;
    // Duplicate ids.
    imp.refused(format!("{GOOD}b2,bus,Bus 2 again,,,,,20,,\n").into_bytes(), 7, "id", "duplicate").await;
    // Dangling references.
    imp.refused(GOOD.replace(",b1,b2,", ",b1,b9,").into_bytes(), 5, "to_bus", "b9").await;
    // UTF-16 (as some spreadsheet programs save "Unicode text").
    let utf16: Vec<u8> =
        [0xFF, 0xFE].into_iter().chain(GOOD.encode_utf16().flat_map(u16::to_le_bytes)).collect();
    imp.refused(utf16, 0, "", "UTF-16").await;
    // Not CSV at all: a header of unknown columns.
    imp.refused(b"<html><body>,more\n1,2\n".to_vec(), 1, "<html><body>", "unknown column").await;
}

#[tokio::test]
async fn a_bom_is_accepted_and_fixes_are_only_applied_when_asked() {
    let imp = Importer::start().await;
    let messy = "\u{feff}id,kind,name,bus,from_bus,to_bus,source,voltage_kv,customers,region\n\
        b1,Bus,Bus 1,,,,,20000 V,,South\n\
        b2,BUS,Bus 2,,,,,20 kV,,North\n\
        g1,Gen,Grid,b1,,,yes,,,\n\
        l1,cable,=Line 1,,b1,b2,,,,\n\
        d2,load,Load 2,b2,,,,,120,\n";
    let maintenance = "id,asset,date,kind,cost,notes\nm1,l1,01.03.2024,Inspect,\"1234,5\",ok\n";
    let files = [
        ("assets", "assets.csv", messy.as_bytes().to_vec()),
        ("maintenance", "maint.csv", maintenance.as_bytes().to_vec()),
    ];
    let before = imp.stored().await;
    let suggested = imp.preview(&files, false).await;
    assert!(!suggested.valid);
    let rules: Vec<&str> = suggested.fixes.iter().map(|f| f.rule.as_str()).collect();
    for rule in [
        "kind in lower case",
        "kind synonym",
        "yes/no → true/false",
        "V → kV",
        "unit removed",
        "formula prefix removed",
        "date as YYYY-MM-DD",
        "decimal comma",
    ] {
        assert!(rules.contains(&rule), "{rule} not suggested: {:?}", suggested.fixes);
    }
    let kv = suggested.issues.iter().find(|i| i.column == "voltage_kv" && i.line == 2).unwrap();
    assert!(kv.message.contains("suggested fix: '20' (V → kV)"), "{kv:?}");
    assert_eq!(suggested.files[0].rows, 5);
    let region = suggested.files[0].columns.iter().find(|c| c.name == "region").unwrap();
    assert_eq!(region.filled, 2, "completeness per column");
    assert_eq!(imp.stored().await, before, "a preview writes nothing");

    // Fixes accepted: the same upload (by token), now valid.
    let form = [("token", suggested.token.as_str()), ("fixes", "true")];
    let fixed: ImportPreview = imp.upload(&[], &form, Some(&imp.cookie)).await.json().await.unwrap();
    assert!(fixed.valid && fixed.fixes_applied, "{:?}", fixed.issues);
    let assets = fixed.changes.iter().find(|c| c.table == "assets").unwrap();
    assert_eq!(
        (assets.created, assets.changed, assets.removed, assets.unchanged),
        (0, 1, 0, 4),
        "{assets:?}"
    );
    assert_eq!(assets.changed_ids, ["b1"], "only the region differs once the fixes are applied");
    assert_eq!(fixed.changes.iter().find(|c| c.table == "maintenance").unwrap().created, 1);
    let applied: ImportApplied = imp.apply(&fixed, true).await.json().await.unwrap();
    assert!(!applied.unchanged);
    assert_eq!(imp.stored().await, (before.0 + 1, 5));
    let config =
        server::config::Config { data_dir: imp.server.dir.path().join("data"), ..Default::default() };
    let grid = server::commands::open_store(&config).unwrap().snapshot().await.unwrap();
    let b1 = grid.data.assets.iter().find(|a| a.id == "b1").unwrap();
    assert_eq!(b1.voltage_kv.get(), Some(20.0));
    assert!(grid.data.assets.iter().find(|a| a.id == "g1").unwrap().source);
    assert_eq!(grid.data.assets.iter().find(|a| a.id == "l1").unwrap().name, "Line 1");
    assert_eq!(grid.data.maintenance[0].cost.get(), Some(1234.5));
}

#[tokio::test]
async fn applying_is_previewed_audited_recognised_when_repeated_and_exclusive() {
    let imp = Importer::start().await;
    let files = [
        ("assets", "assets.csv", GOOD.replace("Bus 2", "Bus Two").into_bytes()),
        ("maintenance", "maintenance.csv", MAINTENANCE.as_bytes().to_vec()),
    ];
    let preview = imp.preview(&files, false).await;
    assert!(preview.valid && !preview.unchanged, "{preview:?}");
    let assets = preview.changes.iter().find(|c| c.table == "assets").unwrap();
    assert_eq!((assets.created, assets.changed, assets.removed, assets.unchanged), (0, 1, 0, 4));
    assert_eq!(assets.changed_ids, ["b2"]);
    assert_eq!(preview.changes.iter().find(|c| c.table == "maintenance").unwrap().created, 1);
    let (revision, _) = imp.stored().await;
    let applied: ImportApplied = imp.apply(&preview, false).await.json().await.unwrap();
    assert_eq!(applied.revision, revision + 1);

    // The same files again: recognised, nothing written.
    let again = imp.preview(&files, false).await;
    assert!(again.valid && again.unchanged, "{again:?}");
    assert_eq!(again.sha256, preview.sha256);
    let repeat: ImportApplied = imp.apply(&again, false).await.json().await.unwrap();
    assert!(repeat.unchanged);
    assert_eq!(imp.stored().await.0, revision + 1);

    // A preview made before the grid changed cannot be applied.
    let stale = imp.preview(&[("assets", "assets.csv", GOOD.as_bytes().to_vec())], false).await;
    let other =
        imp.preview(&[("assets", "assets.csv", GOOD.replace("Grid", "Grid feed").into_bytes())], false).await;
    assert_eq!(imp.apply(&other, false).await.status(), 200);
    let refused = imp.apply(&stale, false).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(refused.headers()["x-error-code"], "conflict");
    assert!(refused.text().await.unwrap().contains("changed since your preview"));

    // Two imports at once: one is applied, the other refused with 409.
    let mut big =
        String::from("id,kind,name,from_bus,to_bus,bus,source\nb0,bus,B0,,,,\ng,generator,G,,,b0,true\n");
    for i in 1..120_000 {
        big.push_str(&format!("b{i},bus,B{i},,,,\nl{i},line,L{i},b{},b{i},,\n", i - 1));
    }
    let first = imp.preview(&[("assets", "big-a.csv", big.clone().into_bytes())], false).await;
    let second = imp.preview(&[("assets", "big-b.csv", big.into_bytes())], false).await;
    assert!(first.valid && second.valid);
    let (a, b) = tokio::join!(imp.apply(&first, false), imp.apply(&second, false));
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "one applied, one refused");

    // Every apply is in the audit log, with the files' checksum and the outcome.
    let audit = imp.server.accounts.store().audit(50).await.unwrap();
    let imports: Vec<&str> =
        audit.iter().filter(|e| e.action == "import").map(|e| e.outcome.as_str()).collect();
    assert!(imports.iter().filter(|o| o.starts_with("ok: revision")).count() >= 3, "{imports:?}");
    assert!(
        imports.contains(&"unchanged") && imports.contains(&"grid_changed") && imports.contains(&"conflict"),
        "{imports:?}"
    );
    let target = format!("sha256:{}", preview.sha256);
    assert!(audit
        .iter()
        .any(|e| e.action == "import" && e.target.as_deref() == Some(&target) && e.actor == "imp"));
}

/// Issue 29: importing only `assets.csv` kept no history (the preview said "maintenance:
/// removed 385, incidents: removed 213" and applying removed them unasked). A table without a
/// file now keeps its stored records; what applying removes is said in words and applied only
/// when confirmed; emptying a table is an explicit choice (`replace`).
#[tokio::test]
async fn a_table_without_a_file_is_kept_and_removals_need_confirmation() {
    let imp = Importer::start().await;
    let assets = |text: &str| ("assets", "assets.csv", text.as_bytes().to_vec());
    let history = ("maintenance", "maintenance.csv", MAINTENANCE.as_bytes().to_vec());
    let first = imp.preview(&[assets(GOOD), history.clone()], false).await;
    assert_eq!(imp.apply(&first, false).await.status(), 200);
    let table = |p: &ImportPreview, t: &str| p.changes.iter().find(|c| c.table == t).unwrap().clone();
    let maintenance = || async { imp.server.store.snapshot().await.unwrap().data.maintenance.len() };

    // Only the assets, one name changed: the maintenance record stays, without confirmation.
    let renamed = imp.preview(&[assets(&GOOD.replace("Bus 2", "Bus Two"))], false).await;
    assert_eq!(renamed.kept, ["maintenance", "incidents"]);
    let kept = table(&renamed, "maintenance");
    assert_eq!((kept.removed, kept.unchanged), (0, 1), "{renamed:?}");
    assert!(app::api::import::removals(&renamed.changes).is_empty());
    assert_eq!(imp.apply_confirming(&renamed, false, false).await.status(), 200);
    assert_eq!(maintenance().await, 1);

    // Without the line, its maintenance record cannot stay: said in words, refused unconfirmed.
    let without_line = GOOD.replace("l1,line,Line 1,,b1,b2,,,,\n", "");
    let removing = imp.preview(&[assets(&without_line)], false).await;
    assert!(removing.valid, "{removing:?}");
    assert_eq!(app::api::import::removals(&removing.changes), ["1 asset", "1 maintenance record"]);
    assert_eq!(table(&removing, "assets").removed_ids, ["l1"]);
    let (revision, _) = imp.stored().await;
    let refused = imp.apply_confirming(&removing, false, false).await;
    assert_eq!(refused.status(), 400);
    assert_eq!(refused.headers()["x-error-code"], "invalid_input");
    let message = refused.text().await.unwrap();
    assert!(message.contains("Applying removes 1 asset, 1 maintenance record: confirm"), "{message}");
    assert_eq!(imp.stored().await.0, revision, "nothing written");
    assert_eq!(imp.apply(&removing, false).await.status(), 200);
    assert_eq!(maintenance().await, 0);

    // Emptying a table given no file is asked for explicitly.
    let again = imp.preview(&[assets(GOOD), history], false).await;
    assert_eq!(imp.apply(&again, false).await.status(), 200);
    let response = imp.upload(&[assets(GOOD)], &[("replace", "maintenance")], Some(&imp.cookie)).await;
    let emptying: ImportPreview = response.json().await.unwrap();
    assert_eq!(emptying.kept, ["incidents"]);
    assert_eq!(app::api::import::removals(&emptying.changes), ["1 maintenance record"]);
    let unknown = imp.upload(&[assets(GOOD)], &[("replace", "assets")], Some(&imp.cookie)).await;
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn only_operators_import_and_only_their_own_uploads() {
    let imp = Importer::start().await;
    let files = [("assets", "assets.csv", GOOD.as_bytes().to_vec())];
    let anonymous = imp.upload(&files, &[], None).await;
    assert_eq!(anonymous.status(), 401);
    let preview = imp.preview(&files, false).await;
    imp.server.add_user("other", Role::Operator, PASSWORD).await;
    let other = imp.server.sign_in("other", PASSWORD).await;
    let base = preview.base_revision.to_string();
    let stolen = imp
        .server
        .post("/import/apply", &[("token", &preview.token), ("base_revision", &base)], Some(&other))
        .await;
    assert_eq!(stolen.status(), 404, "an upload belongs to its uploader");
    let report = client()
        .get(imp.server.url(&format!("/import/report.csv?token={}", preview.token)))
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 401);
    // A signed-in account without the operator role is refused before its body is read.
    imp.server.add_user("vera", Role::Viewer, PASSWORD).await;
    let viewer = imp.server.sign_in("vera", PASSWORD).await;
    assert_eq!(imp.upload(&files, &[], Some(&viewer)).await.status(), 403);
    // Refusals of signed-in accounts are in the audit log (the outside probe found them
    // missing): the other operator's try at an upload not theirs, and the viewer's upload.
    let audit = imp.server.accounts.store().audit(50).await.unwrap();
    let refused = |actor: &str, outcome: &str| {
        audit.iter().any(|e| e.action == "import" && e.actor == actor && e.outcome == outcome)
    };
    assert!(refused("other", "not_found"), "{audit:?}");
    assert!(refused("vera", "forbidden"), "{audit:?}");
}

#[tokio::test]
async fn the_report_and_the_exports_neutralise_spreadsheet_formulas() {
    let imp = Importer::start().await;
    let formula = GOOD.replace("Line 1", "=1+2").replace("North", "@SUM(A1)");
    let preview = imp.preview(&[("assets", "assets.csv", formula.into_bytes())], false).await;
    let report = client()
        .get(imp.server.url(&format!("/import/report.csv?token={}", preview.token)))
        .header("cookie", &imp.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 200);
    let csv = report.text().await.unwrap();
    assert!(csv.starts_with("file,line,column,problem\n"), "{csv}");
    assert!(csv.contains("assets.csv,5,name,"), "{csv}");
    assert!(csv.contains("region,filled in 2 of 5 rows"), "{csv}");
    for line in csv.lines() {
        for cell in line.split(',') {
            assert!(
                !cell.trim_start_matches('"').starts_with(['=', '+', '@']),
                "a live formula in the report: {line}"
            );
        }
    }
    // With the fixes accepted and applied, the export of the names is safe too.
    let fixed: ImportPreview = imp
        .upload(&[], &[("token", &preview.token), ("fixes", "true")], Some(&imp.cookie))
        .await
        .json()
        .await
        .unwrap();
    assert!(fixed.valid);
    assert_eq!(imp.apply(&fixed, true).await.status(), 200);
    // A formula that got into the store some other way (an older import) is exported defused.
    let config =
        server::config::Config { data_dir: imp.server.dir.path().join("data"), ..Default::default() };
    let store = server::commands::open_store(&config).unwrap();
    let mut grid = store.snapshot().await.unwrap().data.clone();
    grid.assets[0].name = "-2+3".into();
    store.replace_grid("older", grid).await.unwrap();
    let export =
        client().get(imp.server.url("/export/assets.csv")).send().await.unwrap().text().await.unwrap();
    assert!(export.contains(",'-2+3,"), "{export}");
}

/// L5 (issue 28): the server decides which revision a preview was made against. Before, an
/// old preview's token applied after two newer imports succeeded when the client sent the
/// current revision, silently undoing them.
#[tokio::test]
async fn l5_an_old_preview_cannot_be_applied_by_sending_the_current_revision() {
    let importer = Importer::start().await;
    let variant = |n: u32| GOOD.replace("Bus 1", &format!("Bus 1 v{n}")).into_bytes();
    let old = importer.preview(&[("assets", "assets.csv", variant(1))], false).await;
    for n in [2, 3] {
        let newer = importer.preview(&[("assets", "assets.csv", variant(n))], false).await;
        assert_eq!(importer.apply(&newer, false).await.status(), 200);
    }
    let (current, assets) = importer.stored().await;
    let current_text = current.to_string();
    let response = importer
        .server
        .post(
            "/import/apply",
            &[("token", &old.token), ("fixes", "false"), ("base_revision", &current_text)],
            Some(&importer.cookie),
        )
        .await;
    assert_eq!(response.status(), 409);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "conflict");
    assert_eq!(importer.stored().await, (current, assets), "nothing written");
}

/// L6 (issue 28): text that acts instead of showing is refused, naming line and column: a
/// terminal escape, a bell, a right-to-left override. Before, it was stored and sent raw in
/// CSV and JSON exports and on the map. Arabic text with its direction marks still imports.
#[tokio::test]
async fn l6_control_and_direction_override_characters_are_refused() {
    let imp = Importer::start().await;
    for (hostile, code) in [
        ("Bus \u{1b}[31m1", "U+001B"),
        ("Bus \u{7}1", "U+0007"),
        ("Bus \u{202e}1", "U+202E"),
        ("Bus \u{2066}1", "U+2066"),
    ] {
        imp.refused(GOOD.replace("Bus 1", hostile).into_bytes(), 2, "name", code).await;
    }
    let arabic = imp
        .preview(&[("assets", "assets.csv", GOOD.replace("Bus 1", "محطة\u{200f} 1").into_bytes())], false)
        .await;
    assert!(arabic.valid, "{:?}", arabic.issues);
}
