//! The GridStore contract, run against the embedded store (issue 4 adds Neo4j to the same suite).

use std::sync::Arc;

use app::domain::model::{Asset, AssetKind, GridData};
use app::ports::GridStore;
use server::store::{embedded::Embedded, Cached};

fn grid(buses: usize) -> GridData {
    let mut assets: Vec<Asset> = (0..buses).map(|i| Asset::new(format!("b{i}"), AssetKind::Bus)).collect();
    assets.push(Asset { bus: Some("b0".into()), source: true, ..Asset::new("g", AssetKind::Generator) });
    for i in 1..buses {
        assets.push(Asset {
            from_bus: Some(format!("b{}", i - 1)),
            to_bus: Some(format!("b{i}")),
            ..Asset::new(format!("l{i}"), AssetKind::Line)
        });
    }
    GridData { assets, ..Default::default() }
}

async fn contract(store: Arc<dyn GridStore>) {
    store.ping().await.expect("ping");
    let empty = store.snapshot().await.unwrap();
    assert!(empty.is_empty());
    assert_eq!(empty.meta.revision, 0);

    let first = store.replace_grid("first", grid(3)).await.unwrap();
    assert_eq!((first.name.as_str(), first.revision), ("first", 1));
    let snapshot = store.snapshot().await.unwrap();
    assert_eq!(snapshot.data, grid(3), "what was written is read back, in order");
    assert_eq!(snapshot.topology.bus_count(), 3);
    assert!(snapshot.asset("l2").is_some());
    // Cached: the same snapshot until the next write.
    assert!(Arc::ptr_eq(&snapshot, &store.snapshot().await.unwrap()));

    let second = store.replace_grid("second", grid(5)).await.unwrap();
    assert_eq!(second.revision, 2);
    let after = store.snapshot().await.unwrap();
    assert!(!Arc::ptr_eq(&snapshot, &after), "a write invalidates the cached topology");
    assert_eq!(after.topology.bus_count(), 5);
    assert!(after.asset("b4").is_some() && after.asset("l2").is_some());
    assert_eq!(after.meta.name, "second");
}

#[tokio::test]
async fn embedded_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    contract(Arc::new(Cached::new(Embedded::open(dir.path()).unwrap()))).await;
}

#[tokio::test]
async fn embedded_store_is_durable_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = Cached::new(Embedded::open(dir.path()).unwrap());
        store.replace_grid("kept", grid(4)).await.unwrap();
    }
    let reopened = Cached::new(Embedded::open(dir.path()).unwrap());
    let snapshot = reopened.snapshot().await.unwrap();
    assert_eq!((snapshot.meta.name.as_str(), snapshot.meta.revision), ("kept", 1));
    assert_eq!(snapshot.data, grid(4));
}

#[tokio::test]
async fn a_newer_schema_is_refused_rather_than_misread() {
    let dir = tempfile::tempdir().unwrap();
    drop(Embedded::open(dir.path()).unwrap());
    let file = dir.path().join(server::store::embedded::FILE_NAME);
    rusqlite::Connection::open(&file).unwrap().execute_batch("PRAGMA user_version = 99").unwrap();
    let err = Embedded::open(dir.path()).err().expect("must refuse");
    assert!(err.to_string().contains("schema version 99"), "{err}");
}
