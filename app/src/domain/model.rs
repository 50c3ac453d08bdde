//! Assets of a transmission or distribution grid and what happens to them.
//!
//! One flat [`Asset`] record serves every kind: the interchange format, both stores and the
//! UI all see the same fields, and [`Asset::shape_issues`] says which fields a kind needs
//! and which it must not have. A [`GridData`] is a whole grid as imported; it is only
//! accepted after [`GridData::validate`] found no issue.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// Longest accepted identifier, and the characters it may use (ASCII letters, digits, `-_.:`).
pub const MAX_ID_LEN: usize = 64;
/// Longest accepted free text (names, notes, regions).
pub const MAX_TEXT_LEN: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetKind {
    Substation,
    Bus,
    Line,
    Transformer,
    Generator,
    Load,
    Switch,
}

impl AssetKind {
    pub const ALL: [AssetKind; 7] = [
        AssetKind::Substation,
        AssetKind::Bus,
        AssetKind::Line,
        AssetKind::Transformer,
        AssetKind::Generator,
        AssetKind::Load,
        AssetKind::Switch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Substation => "substation",
            AssetKind::Bus => "bus",
            AssetKind::Line => "line",
            AssetKind::Transformer => "transformer",
            AssetKind::Generator => "generator",
            AssetKind::Load => "load",
            AssetKind::Switch => "switch",
        }
    }

    pub fn parse(text: &str) -> Option<AssetKind> {
        AssetKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Branch elements join two buses and can be taken out one at a time (N-1).
    pub fn is_branch(self) -> bool {
        matches!(self, AssetKind::Line | AssetKind::Transformer)
    }
}

impl std::fmt::Display for AssetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// WGS84 position in degrees.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

/// An optional position in 16 bytes (an `Option<GeoPoint>` takes 24): a NaN latitude stands
/// for none (the import refuses values that are not finite). Read and written as an
/// `Option<GeoPoint>`.
#[derive(Clone, Copy)]
pub struct Place(GeoPoint);

impl Place {
    pub const NONE: Place = Place(GeoPoint { lat: f64::NAN, lon: f64::NAN });

    pub fn get(self) -> Option<GeoPoint> {
        (!self.0.lat.is_nan() && !self.0.lon.is_nan()).then_some(self.0)
    }

    pub fn is_some(self) -> bool {
        self.get().is_some()
    }
}

impl Default for Place {
    fn default() -> Place {
        Place::NONE
    }
}

impl From<Option<GeoPoint>> for Place {
    /// A point with a NaN coordinate has no place and becomes none.
    fn from(value: Option<GeoPoint>) -> Place {
        value.map_or(Place::NONE, |p| if p.lat.is_nan() || p.lon.is_nan() { Place::NONE } else { Place(p) })
    }
}

impl From<GeoPoint> for Place {
    fn from(value: GeoPoint) -> Place {
        Place::from(Some(value))
    }
}

impl PartialEq for Place {
    fn eq(&self, other: &Place) -> bool {
        self.get() == other.get()
    }
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

impl Serialize for Place {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Place {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Place, D::Error> {
        Option::<GeoPoint>::deserialize(deserializer).map(Place::from)
    }
}

/// An optional measurement in 8 bytes (an `Option<f64>` takes 16, and a grid holds five per
/// asset): NaN stands for none, so NaN is never a value (the import already refuses values
/// that are not finite). Read and written as an `Option<f64>`.
#[derive(Clone, Copy)]
pub struct Measure(f64);

impl Measure {
    pub const NONE: Measure = Measure(f64::NAN);

    pub fn get(self) -> Option<f64> {
        (!self.0.is_nan()).then_some(self.0)
    }
}

impl Default for Measure {
    fn default() -> Measure {
        Measure::NONE
    }
}

impl From<Option<f64>> for Measure {
    /// NaN has no place in a measurement and becomes none.
    fn from(value: Option<f64>) -> Measure {
        value.map_or(Measure::NONE, Measure)
    }
}

impl PartialEq for Measure {
    fn eq(&self, other: &Measure) -> bool {
        self.get() == other.get()
    }
}

impl std::fmt::Debug for Measure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.get().fmt(f)
    }
}

impl Serialize for Measure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.get().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Measure {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Measure, D::Error> {
        Option::<f64>::deserialize(deserializer).map(Measure::from)
    }
}

/// Text held by the assets of a grid: one pointer wide, and clones share one copy. A
/// reference to another asset shares that asset's id (see [`GridData::share_text`]), and
/// assets of one region share its name. Texts read in bulk are packed into shared blocks
/// (see [`super::text`]).
pub use super::text::Text;

/// Reading a grid with one copy of each distinct text from the start.
///
/// [`GridData::share_text`] shares equal texts after the fact, but then every reference was
/// first read into a copy of its own, and freeing those copies leaves the allocator's pages
/// of small objects partly used: on a 200,000-asset grid tens of megabytes that can never be
/// returned. While a [`Sharing`] guard lives, every [`Text`] field of an asset, maintenance
/// record or incident deserialised on this thread is looked up among the texts already read
/// and shares that copy, so the duplicates are never allocated; the first copy of each is
/// packed with the others into shared blocks ([`TextSet`](super::super::text::TextSet)).
pub mod sharing {
    use super::super::text::{TextSet, TextVisitor};
    use super::Text;
    use serde::de::{Deserializer, Error, Visitor};
    use std::cell::RefCell;
    use std::marker::PhantomData;

    thread_local! {
        static HELD: RefCell<Option<TextSet>> = const { RefCell::new(None) };
    }

    /// Texts read on this thread are shared until this is dropped (see the module). A guard
    /// taken while another one lives on the same thread changes nothing.
    #[must_use = "texts are shared only while the guard lives"]
    pub struct Sharing {
        installed: bool,
        /// Bound to the thread whose texts it shares.
        _thread: PhantomData<*const ()>,
    }

    /// Share texts read on this thread until the guard is dropped; `capacity`: the number of
    /// distinct texts expected.
    pub fn begin(capacity: usize) -> Sharing {
        let installed = HELD.with_borrow_mut(|held| {
            held.is_none().then(|| *held = Some(TextSet::with_capacity(capacity))).is_some()
        });
        Sharing { installed, _thread: PhantomData }
    }

    impl Drop for Sharing {
        fn drop(&mut self) {
            if self.installed {
                HELD.with_borrow_mut(|held| *held = None);
            }
        }
    }

    /// `value` as a [`Text`]: the shared copy while a [`Sharing`] guard lives, else a new one.
    pub fn text(value: &str) -> Text {
        HELD.with_borrow_mut(|held| match held {
            None => Text::from(value),
            Some(held) => held.share(value),
        })
    }

    struct OptionalTextVisitor;

    impl<'de> Visitor<'de> for OptionalTextVisitor {
        type Value = Option<Text>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string or null")
        }
        fn visit_none<E: Error>(self) -> Result<Option<Text>, E> {
            Ok(None)
        }
        fn visit_unit<E: Error>(self) -> Result<Option<Text>, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Option<Text>, D::Error> {
            deserialize(deserializer).map(Some)
        }
    }

    /// Serde `deserialize_with` for a [`Text`] field.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Text, D::Error> {
        deserializer.deserialize_str(TextVisitor(text))
    }

    /// Serde `deserialize_with` for an optional [`Text`] field.
    pub fn deserialize_option<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Text>, D::Error> {
        deserializer.deserialize_option(OptionalTextVisitor)
    }
}

/// One asset. Which optional fields apply depends on `kind` (see [`Asset::shape_issues`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    #[serde(deserialize_with = "sharing::deserialize")]
    pub id: Text,
    pub kind: AssetKind,
    #[serde(deserialize_with = "sharing::deserialize")]
    pub name: Text,
    /// Bus: the substation it belongs to. Transformer: the substation it stands in.
    #[serde(default, deserialize_with = "sharing::deserialize_option")]
    pub substation: Option<Text>,
    /// Generator, load, switch: the bus it is connected to.
    #[serde(default, deserialize_with = "sharing::deserialize_option")]
    pub bus: Option<Text>,
    /// Line, transformer (high-voltage side): first end.
    #[serde(default, deserialize_with = "sharing::deserialize_option")]
    pub from_bus: Option<Text>,
    /// Line, transformer (low-voltage side): second end; bus-bus switch: the other bus.
    #[serde(default, deserialize_with = "sharing::deserialize_option")]
    pub to_bus: Option<Text>,
    /// Switch at one end of a branch: the line or transformer it sits on (at `bus`).
    #[serde(default, deserialize_with = "sharing::deserialize_option")]
    pub element: Option<Text>,
    /// Switch state; `None` for every other kind.
    pub closed: Option<bool>,
    pub in_service: bool,
    /// Generator: a source of the grid (slack or external-grid connection).
    pub source: bool,
    pub voltage_kv: Measure,
    pub rating_mva: Measure,
    /// Generator output or load demand.
    pub p_mw: Measure,
    /// Line: number of parallel circuits (1 unless stated).
    pub circuits: u16,
    pub length_km: Measure,
    /// Loading as a share of rating, in percent.
    pub loading_pct: Measure,
    pub commissioning_year: Option<i16>,
    /// 0 (failed) to 100 (as new).
    pub condition: Option<u8>,
    /// Load: customers supplied through this connection point.
    pub customers: Option<u32>,
    #[serde(default, deserialize_with = "sharing::deserialize_option")]
    pub region: Option<Text>,
    #[serde(default)]
    pub location: Place,
    /// The fields whose values are synthetic (generated, not measured).
    pub synthetic: SyntheticFields,
}

/// The columns of an asset in the interchange format, in order: what [`SyntheticFields`] can
/// name.
pub const ASSET_FIELDS: &[&str] = &[
    "id",
    "kind",
    "name",
    "substation",
    "bus",
    "from_bus",
    "to_bus",
    "element",
    "closed",
    "in_service",
    "source",
    "voltage_kv",
    "rating_mva",
    "p_mw",
    "circuits",
    "length_km",
    "loading_pct",
    "commissioning_year",
    "condition",
    "customers",
    "region",
    "lat",
    "lon",
    "synthetic",
];

/// A set of [`ASSET_FIELDS`], one bit each (a list of names would cost a hundred bytes and
/// more per asset). Serialised as the list of the names, in column order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SyntheticFields(u32);

impl SyntheticFields {
    /// The set of `names`, or the first name that is not a field.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<SyntheticFields, String> {
        let mut set = SyntheticFields::default();
        for name in names {
            if !set.insert(name) {
                return Err(name.to_owned());
            }
        }
        Ok(set)
    }

    /// Adds `field`; false when it is not one of [`ASSET_FIELDS`].
    pub fn insert(&mut self, field: &str) -> bool {
        match ASSET_FIELDS.iter().position(|f| *f == field) {
            Some(bit) => {
                self.0 |= 1 << bit;
                true
            }
            None => false,
        }
    }

    pub fn contains(&self, field: &str) -> bool {
        ASSET_FIELDS.iter().position(|f| *f == field).is_some_and(|bit| self.0 & (1 << bit) != 0)
    }

    pub fn is_empty(&self) -> bool {
        self.0 == 0
    }

    /// The names in the set, in column order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        ASSET_FIELDS.iter().enumerate().filter(|(bit, _)| self.0 & (1 << bit) != 0).map(|(_, f)| *f)
    }
}

impl Serialize for SyntheticFields {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.names())
    }
}

impl<'de> Deserialize<'de> for SyntheticFields {
    /// Read name by name into the set: no list of names is built (a grid holds one set per
    /// asset, and short-lived lists would leave holes among the grid's texts).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Field(&'static str);
        impl<'de> Deserialize<'de> for Field {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Field, D::Error> {
                struct Name;
                impl serde::de::Visitor<'_> for Name {
                    type Value = Field;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("an asset field name")
                    }
                    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Field, E> {
                        ASSET_FIELDS
                            .iter()
                            .find(|f| **f == name)
                            .map(|f| Field(f))
                            .ok_or_else(|| E::custom(format!("'{name}' is not an asset field")))
                    }
                }
                deserializer.deserialize_str(Name)
            }
        }
        struct Names;
        impl<'de> serde::de::Visitor<'de> for Names {
            type Value = SyntheticFields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of asset field names")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<SyntheticFields, A::Error> {
                let mut set = SyntheticFields::default();
                while let Some(Field(name)) = seq.next_element()? {
                    set.insert(name);
                }
                Ok(set)
            }
        }
        deserializer.deserialize_seq(Names)
    }
}

impl Asset {
    /// A minimal in-service asset of `kind`; the other fields are empty.
    pub fn new(id: impl Into<Text>, kind: AssetKind) -> Asset {
        let id = id.into();
        Asset {
            name: id.clone(),
            id,
            kind,
            substation: None,
            bus: None,
            from_bus: None,
            to_bus: None,
            element: None,
            closed: (kind == AssetKind::Switch).then_some(true),
            in_service: true,
            source: false,
            voltage_kv: Measure::NONE,
            rating_mva: Measure::NONE,
            p_mw: Measure::NONE,
            circuits: 1,
            length_km: Measure::NONE,
            loading_pct: Measure::NONE,
            commissioning_year: None,
            condition: None,
            customers: None,
            region: None,
            location: Place::NONE,
            synthetic: SyntheticFields::default(),
        }
    }

    pub fn is_synthetic(&self, field: &str) -> bool {
        self.synthetic.contains(field)
    }

    /// Fields this asset's kind needs but lacks, or has but must not: `(field, message)`.
    pub fn shape_issues(&self) -> Vec<(&'static str, String)> {
        use AssetKind::*;
        let mut issues = Vec::new();
        let kind = self.kind;
        let mut need = |field: &'static str, present: bool, wanted: bool| {
            if wanted && !present {
                issues.push((field, format!("a {kind} needs {field}")));
            } else if !wanted && present {
                issues.push((field, format!("a {kind} has no {field}")));
            }
        };
        need("bus", self.bus.is_some(), matches!(kind, Generator | Load | Switch));
        need("from_bus", self.from_bus.is_some(), kind.is_branch());
        if kind != Switch {
            need("to_bus", self.to_bus.is_some(), kind.is_branch());
            need("element", self.element.is_some(), false);
        }
        need("closed", self.closed.is_some(), kind == Switch);
        if !matches!(kind, Bus | Transformer) && self.substation.is_some() {
            issues.push(("substation", format!("a {kind} has no substation")));
        }
        if kind == Switch && self.to_bus.is_some() == self.element.is_some() {
            issues.push((
                "element",
                "a switch needs exactly one of to_bus (bus-bus) or element (on a branch)".into(),
            ));
        }
        if self.source && kind != Generator {
            issues.push(("source", format!("only a generator can be a source, not a {kind}")));
        }
        if self.customers.is_some() && kind != Load {
            issues.push(("customers", format!("customers are counted at loads, not at a {kind}")));
        }
        if self.circuits != 1 && kind != Line {
            issues.push(("circuits", format!("only a line has parallel circuits, not a {kind}")));
        }
        if self.circuits == 0 {
            issues.push(("circuits", "a line has at least one circuit".into()));
        }
        issues
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MaintenanceKind {
    Inspection,
    Repair,
    Replacement,
}

impl MaintenanceKind {
    pub fn parse(text: &str) -> Option<MaintenanceKind> {
        match text {
            "inspection" => Some(MaintenanceKind::Inspection),
            "repair" => Some(MaintenanceKind::Repair),
            "replacement" => Some(MaintenanceKind::Replacement),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceRecord {
    #[serde(deserialize_with = "sharing::deserialize")]
    pub id: Text,
    #[serde(deserialize_with = "sharing::deserialize")]
    pub asset: Text,
    pub date: NaiveDate,
    pub kind: MaintenanceKind,
    /// None when unknown (a NaN-niched number: 8 bytes where `Option<f64>` takes 16).
    pub cost: Measure,
    #[serde(deserialize_with = "sharing::deserialize")]
    pub notes: Text,
    pub synthetic: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    #[serde(deserialize_with = "sharing::deserialize")]
    pub id: Text,
    #[serde(deserialize_with = "sharing::deserialize")]
    pub asset: Text,
    pub started_at: DateTime<Utc>,
    /// `None` while the incident is still open.
    pub restored_at: Option<DateTime<Utc>>,
    pub customers_affected: u32,
    #[serde(deserialize_with = "sharing::deserialize")]
    pub cause: Text,
    pub synthetic: bool,
}

/// A whole grid as imported: what replaces the stored grid in one transaction.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GridData {
    pub assets: Vec<Asset>,
    pub maintenance: Vec<MaintenanceRecord>,
    pub incidents: Vec<Incident>,
}

impl GridData {
    /// Makes equal texts one shared copy: a reference to an asset (from an asset, a
    /// maintenance record or an incident) shares that asset's id, and a region, name, note
    /// or cause used many times is held once. Read from a store or
    /// a file, every reference is a copy of its own; on a 200,000-asset grid sharing saves
    /// megabytes. The first copy of each text is packed with the others into shared blocks
    /// ([`TextSet`](super::text::TextSet)). Values are unchanged.
    pub fn share_text(&mut self) {
        let mut held = super::text::TextSet::with_capacity(self.assets.len());
        let mut share = |text: &mut Text| *text = held.share(text);
        for a in &mut self.assets {
            share(&mut a.id);
        }
        for a in &mut self.assets {
            share(&mut a.name);
            for text in
                [&mut a.substation, &mut a.bus, &mut a.from_bus, &mut a.to_bus, &mut a.element, &mut a.region]
                    .into_iter()
                    .flatten()
            {
                share(text);
            }
        }
        for m in &mut self.maintenance {
            share(&mut m.asset);
            share(&mut m.notes);
        }
        for i in &mut self.incidents {
            share(&mut i.asset);
            share(&mut i.cause);
        }
    }
}

/// Which table of a [`GridData`] a validation issue is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Table {
    Assets,
    Maintenance,
    Incidents,
}

/// A problem with one record: the import layer turns `index` into a file and row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationIssue {
    pub table: Table,
    pub index: usize,
    pub column: &'static str,
    pub message: String,
}

/// Whether `id` is a well-formed identifier.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

impl GridData {
    /// Every issue across the grid: shape per kind, duplicate ids, references to ids that do
    /// not exist or name the wrong kind, and values out of range. Empty means acceptable.
    pub fn validate(&self) -> Vec<ValidationIssue> {
        let mut issues = Vec::new();
        let mut push = |table, index, column, message: String| {
            issues.push(ValidationIssue { table, index, column, message })
        };
        let mut kinds: HashMap<&str, (AssetKind, usize)> = HashMap::with_capacity(self.assets.len());
        for (i, a) in self.assets.iter().enumerate() {
            if !valid_id(&a.id) {
                push(
                    Table::Assets,
                    i,
                    "id",
                    format!("'{}' is not a valid id (1–{MAX_ID_LEN} of A–Z a–z 0–9 - _ . :)", a.id),
                );
            }
            if let Some((_, first)) = kinds.insert(&a.id, (a.kind, i)) {
                kinds.insert(&self.assets[first].id, (self.assets[first].kind, first));
                push(
                    Table::Assets,
                    i,
                    "id",
                    format!("duplicate id '{}' (first used by record {})", a.id, first + 1),
                );
            }
            for (column, message) in a.shape_issues() {
                push(Table::Assets, i, column, message);
            }
            if let Some(c) = a.condition.filter(|c| *c > 100) {
                push(Table::Assets, i, "condition", format!("condition {c} is outside 0–100"));
            }
            if let Some(p) = a.location.get() {
                if !(-90.0..=90.0).contains(&p.lat) {
                    push(Table::Assets, i, "lat", format!("latitude {} is outside −90…90", p.lat));
                }
                if !(-180.0..=180.0).contains(&p.lon) {
                    push(Table::Assets, i, "lon", format!("longitude {} is outside −180…180", p.lon));
                }
            }
            for (column, value) in
                [("voltage_kv", a.voltage_kv), ("rating_mva", a.rating_mva), ("length_km", a.length_km)]
            {
                if value.get().is_some_and(|v| v < 0.0) {
                    push(Table::Assets, i, column, format!("{column} must not be negative"));
                }
            }
            if a.name.chars().count() > MAX_TEXT_LEN {
                push(Table::Assets, i, "name", format!("name is longer than {MAX_TEXT_LEN} characters"));
            }
        }
        let check_ref = |target: &str, wanted: &[AssetKind]| -> Option<String> {
            match kinds.get(target) {
                None => Some(format!("'{target}' does not exist")),
                Some((kind, _)) if !wanted.contains(kind) => {
                    let names: Vec<&str> = wanted.iter().map(|k| k.as_str()).collect();
                    Some(format!("'{target}' is a {kind}, expected {}", names.join(" or ")))
                }
                Some(_) => None,
            }
        };
        use AssetKind::*;
        for (i, a) in self.assets.iter().enumerate() {
            let references: [(&'static str, &Option<Text>, &[AssetKind]); 5] = [
                ("substation", &a.substation, &[Substation]),
                ("bus", &a.bus, &[Bus]),
                ("from_bus", &a.from_bus, &[Bus]),
                ("to_bus", &a.to_bus, &[Bus]),
                ("element", &a.element, &[Line, Transformer]),
            ];
            for (column, target, wanted) in references {
                if let Some(message) = target.as_deref().and_then(|t| check_ref(t, wanted)) {
                    push(Table::Assets, i, column, message);
                }
            }
            if a.kind.is_branch() && a.from_bus.is_some() && a.from_bus == a.to_bus {
                push(
                    Table::Assets,
                    i,
                    "to_bus",
                    format!("a {} cannot join bus '{}' to itself", a.kind, a.to_bus.as_deref().unwrap_or("")),
                );
            }
        }
        // A switch on a branch must sit at one of that branch's ends.
        let index: HashMap<&str, &Asset> = self.assets.iter().map(|a| (a.id.as_str(), a)).collect();
        for (i, a) in self.assets.iter().enumerate() {
            if let (Some(element), Some(bus)) = (&a.element, &a.bus) {
                if let Some(branch) = index.get(element.as_str()).filter(|b| b.kind.is_branch()) {
                    if branch.from_bus.as_ref() != Some(bus) && branch.to_bus.as_ref() != Some(bus) {
                        push(Table::Assets, i, "bus", format!("'{bus}' is not an end of '{element}'"));
                    }
                }
            }
        }
        let all: &[AssetKind] = &AssetKind::ALL;
        let mut seen = HashSet::new();
        for (i, m) in self.maintenance.iter().enumerate() {
            if !valid_id(&m.id) {
                push(Table::Maintenance, i, "id", format!("'{}' is not a valid id", m.id));
            } else if !seen.insert(m.id.as_str()) {
                push(Table::Maintenance, i, "id", format!("duplicate id '{}'", m.id));
            }
            if let Some(message) = check_ref(&m.asset, all) {
                push(Table::Maintenance, i, "asset", message);
            }
            if m.cost.get().is_some_and(|c| c < 0.0) {
                push(Table::Maintenance, i, "cost", "cost must not be negative".into());
            }
        }
        let mut seen = HashSet::new();
        for (i, incident) in self.incidents.iter().enumerate() {
            if !valid_id(&incident.id) {
                push(Table::Incidents, i, "id", format!("'{}' is not a valid id", incident.id));
            } else if !seen.insert(incident.id.as_str()) {
                push(Table::Incidents, i, "id", format!("duplicate id '{}'", incident.id));
            }
            if let Some(message) = check_ref(&incident.asset, all) {
                push(Table::Incidents, i, "asset", message);
            }
            if incident.restored_at.is_some_and(|r| r < incident.started_at) {
                push(Table::Incidents, i, "restored_at", "restored before it started".into());
            }
        }
        issues
    }

    pub fn count(&self, kind: AssetKind) -> usize {
        self.assets.iter().filter(|a| a.kind == kind).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_fields_are_stored_as_names_in_column_order_and_unknown_names_refused() {
        let set =
            SyntheticFields::from_names(["region", "condition", "commissioning_year", "region"]).unwrap();
        assert!(set.contains("condition") && set.contains("region") && !set.contains("name"));
        assert!(!set.contains("no such field"));
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["commissioning_year","condition","region"]"#);
        assert_eq!(serde_json::from_str::<SyntheticFields>(&json).unwrap(), set);
        assert_eq!(serde_json::from_str::<SyntheticFields>("[]").unwrap(), SyntheticFields::default());
        let err = serde_json::from_str::<SyntheticFields>(r#"["condition","colour"]"#).unwrap_err();
        assert!(err.to_string().contains("'colour' is not an asset field"), "{err}");
        assert_eq!(SyntheticFields::from_names(["lat", "bogus"]), Err("bogus".to_owned()));
        // Every field fits in the set.
        let all = SyntheticFields::from_names(ASSET_FIELDS.iter().copied()).unwrap();
        assert_eq!(all.names().collect::<Vec<_>>(), ASSET_FIELDS);
    }

    #[test]
    fn texts_read_under_a_sharing_guard_share_one_copy() {
        let mut a = bus("a");
        a.region = Some("North \"upper\" caf\u{e9}".into());
        let mut b = bus("b");
        b.region = a.region.clone();
        let rows = [a, b, line("l", "a", "b")].map(|x| serde_json::to_string(&x).unwrap());
        let record = r#"{"id":"m1","asset":"l","date":"2024-01-02","kind":"repair","cost":null,"notes":"","synthetic":false}"#;
        let read = || -> (Vec<Asset>, MaintenanceRecord) {
            (
                rows.iter().map(|r| serde_json::from_str(r).unwrap()).collect(),
                serde_json::from_str(record).unwrap(),
            )
        };
        // Without a guard every text is a copy of its own.
        let (plain, _) = read();
        assert!(!Text::ptr_eq(plain[2].from_bus.as_ref().unwrap(), &plain[0].id));
        let outer = sharing::begin(8);
        let (shared, m) = {
            let _inner = sharing::begin(8); // a nested guard changes nothing, dropped or not
            read()
        };
        let (again, _) = read();
        drop(outer);
        assert_eq!(shared, plain);
        let [a, b, l] = &shared[..] else { unreachable!() };
        assert!(Text::ptr_eq(l.from_bus.as_ref().unwrap(), &a.id));
        assert!(Text::ptr_eq(l.to_bus.as_ref().unwrap(), &b.id));
        assert!(Text::ptr_eq(a.region.as_ref().unwrap(), b.region.as_ref().unwrap()));
        assert_eq!(a.region.as_deref(), Some("North \"upper\" caf\u{e9}"));
        assert!(Text::ptr_eq(&m.asset, &l.id));
        assert!(Text::ptr_eq(&again[0].id, &a.id), "the outer guard still shared after the inner one ended");
        // After the guard, reads are copies again.
        let (after, _) = read();
        assert!(!Text::ptr_eq(&after[0].id, &a.id));
        // Absent optional texts read as none, a wrong type is refused.
        let sparse: Asset = serde_json::from_str(
            r#"{"id":"x","kind":"bus","name":"X","in_service":true,"source":false,"voltage_kv":null,"rating_mva":null,"p_mw":null,"circuits":1,"length_km":null,"loading_pct":null,"commissioning_year":null,"condition":null,"customers":null,"location":null,"synthetic":[]}"#,
        )
        .unwrap();
        assert_eq!((sparse.bus, sparse.region), (None, None));
        let err =
            serde_json::from_str::<Asset>(&rows[0].replace(r#""name":"a""#, r#""name":7"#)).unwrap_err();
        assert!(err.to_string().contains("expected a string"), "{err}");
    }

    fn bus(id: &str) -> Asset {
        Asset::new(id, AssetKind::Bus)
    }

    fn line(id: &str, a: &str, b: &str) -> Asset {
        Asset { from_bus: Some(a.into()), to_bus: Some(b.into()), ..Asset::new(id, AssetKind::Line) }
    }

    fn columns(grid: &GridData) -> Vec<(usize, &'static str)> {
        grid.validate().into_iter().map(|i| (i.index, i.column)).collect()
    }

    #[test]
    fn a_consistent_grid_has_no_issues() {
        let grid = GridData { assets: vec![bus("a"), bus("b"), line("l", "a", "b")], ..Default::default() };
        assert_eq!(grid.validate(), vec![]);
    }

    #[test]
    fn a_measure_reads_and_writes_as_an_optional_number() {
        for (json, value) in [("12.5", Some(12.5)), ("-0.0", Some(-0.0)), ("null", None)] {
            let m: Measure = serde_json::from_str(json).unwrap();
            assert_eq!(m.get(), value, "{json}");
            assert_eq!(serde_json::to_string(&m).unwrap(), serde_json::to_string(&value).unwrap());
        }
        assert_eq!(Measure::from(Some(f64::NAN)), Measure::NONE);
        assert_eq!(Measure::from(Some(1.0)), Measure::from(Some(1.0)));
        assert_ne!(Measure::from(Some(1.0)), Measure::NONE);
        assert_eq!(Measure::default().get(), None);
        assert!(serde_json::from_str::<Measure>("\"x\"").is_err());
        assert_eq!(std::mem::size_of::<Measure>(), 8);
    }

    #[test]
    fn a_place_reads_and_writes_as_an_optional_point() {
        let point = GeoPoint { lat: 47.5, lon: -0.0 };
        for (json, value) in [(r#"{"lat":47.5,"lon":-0.0}"#, Some(point)), ("null", None)] {
            let p: Place = serde_json::from_str(json).unwrap();
            assert_eq!(p.get(), value, "{json}");
            assert_eq!(serde_json::to_string(&p).unwrap(), serde_json::to_string(&value).unwrap());
        }
        assert_eq!(Place::from(GeoPoint { lat: f64::NAN, lon: 1.0 }), Place::NONE);
        assert_eq!(Place::from(GeoPoint { lat: 1.0, lon: f64::NAN }).get(), None);
        assert_eq!(Place::from(point), Place::from(Some(point)));
        assert!(Place::from(point).is_some() && !Place::default().is_some());
        assert!(serde_json::from_str::<Place>(r#"{"lat":1}"#).is_err());
        // An asset without "location" reads as having none.
        let a: Asset = serde_json::from_str(r#"{"id":"x","kind":"bus","name":"X","in_service":true,"source":false,"voltage_kv":null,"rating_mva":null,"p_mw":null,"circuits":1,"length_km":null,"loading_pct":null,"commissioning_year":null,"condition":null,"customers":null,"synthetic":[]}"#).unwrap();
        assert_eq!(a.location, Place::NONE);
    }

    #[test]
    fn an_asset_takes_144_bytes() {
        // The grid holds one per asset (203,704 in ACTIVSg70k): every 8 bytes is 1.6 MB.
        assert_eq!(std::mem::size_of::<Place>(), 16);
        assert!(std::mem::size_of::<Asset>() <= 144, "{} bytes", std::mem::size_of::<Asset>());
    }

    #[test]
    fn shared_text_keeps_values_and_references_share_the_target_id() {
        let region = |a: Asset, r: &str| Asset { region: Some(String::from(r).into()), ..a };
        let mut grid = GridData {
            assets: vec![
                region(bus("a"), "North"),
                region(bus("b"), "North"),
                line("l", "a", "b"),
                line("m", "b", "nowhere"),
                line("n", "nowhere", "a"),
            ],
            maintenance: ["m1", "m2"]
                .map(|id| MaintenanceRecord {
                    id: id.into(),
                    asset: String::from("l").into(),
                    date: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
                    kind: MaintenanceKind::Inspection,
                    cost: Measure::NONE,
                    notes: String::from("routine").into(),
                    synthetic: true,
                })
                .into(),
            incidents: vec![Incident {
                id: "i1".into(),
                asset: String::from("m").into(),
                started_at: "2024-05-01T12:00:00Z".parse().unwrap(),
                restored_at: None,
                customers_affected: 3,
                cause: String::from("routine").into(),
                synthetic: true,
            }],
        };
        let before = grid.clone();
        grid.share_text();
        assert_eq!(grid, before);
        let [a, b, l, m, n] = &grid.assets[..] else { unreachable!() };
        assert!(Text::ptr_eq(l.from_bus.as_ref().unwrap(), &a.id));
        assert!(Text::ptr_eq(l.to_bus.as_ref().unwrap(), &b.id));
        assert!(Text::ptr_eq(m.from_bus.as_ref().unwrap(), &b.id));
        assert!(Text::ptr_eq(a.region.as_ref().unwrap(), b.region.as_ref().unwrap()));
        // A dangling reference (the import refuses those; a store may still hold one) is
        // shared with its equals.
        assert!(Text::ptr_eq(m.to_bus.as_ref().unwrap(), n.from_bus.as_ref().unwrap()));
        assert!(!Text::ptr_eq(&a.id, &b.id));
        let [m1, m2] = &grid.maintenance[..] else { unreachable!() };
        assert!(Text::ptr_eq(&m1.asset, &l.id) && Text::ptr_eq(&m2.asset, &l.id));
        assert!(Text::ptr_eq(&m1.notes, &m2.notes) && Text::ptr_eq(&m1.notes, &grid.incidents[0].cause));
        assert!(Text::ptr_eq(&grid.incidents[0].asset, &m.id));
    }

    #[test]
    fn duplicate_ids_are_reported_at_the_second_use() {
        let grid = GridData { assets: vec![bus("a"), bus("a")], ..Default::default() };
        let issues = grid.validate();
        assert_eq!(issues.len(), 1);
        assert_eq!((issues[0].index, issues[0].column), (1, "id"));
        assert!(issues[0].message.contains("duplicate id 'a'"), "{}", issues[0].message);
    }

    #[test]
    fn dangling_and_wrong_kind_references_name_the_column() {
        let grid = GridData {
            assets: vec![bus("a"), line("x", "a", "nowhere"), line("y", "a", "x")],
            ..Default::default()
        };
        let issues = grid.validate();
        assert_eq!(columns(&grid), vec![(1, "to_bus"), (2, "to_bus")]);
        assert!(issues[0].message.contains("'nowhere' does not exist"));
        assert!(issues[1].message.contains("'x' is a line, expected bus"));
    }

    #[test]
    fn kinds_need_their_connections() {
        let load = Asset::new("ld", AssetKind::Load);
        let switch = Asset { bus: Some("a".into()), ..Asset::new("s", AssetKind::Switch) };
        let grid = GridData { assets: vec![bus("a"), load, switch], ..Default::default() };
        assert_eq!(columns(&grid), vec![(1, "bus"), (2, "element")]);
    }

    #[test]
    fn a_branch_switch_must_sit_at_an_end_of_its_branch() {
        let switch =
            Asset { bus: Some("c".into()), element: Some("l".into()), ..Asset::new("s", AssetKind::Switch) };
        let grid = GridData {
            assets: vec![bus("a"), bus("b"), bus("c"), line("l", "a", "b"), switch],
            ..Default::default()
        };
        assert_eq!(columns(&grid), vec![(4, "bus")]);
    }

    #[test]
    fn history_must_reference_existing_assets() {
        let record = MaintenanceRecord {
            id: "m1".into(),
            asset: "ghost".into(),
            date: NaiveDate::from_ymd_opt(2024, 1, 2).unwrap(),
            kind: MaintenanceKind::Repair,
            cost: Measure::from(Some(-1.0)),
            notes: Text::default(),
            synthetic: false,
        };
        let grid = GridData { assets: vec![bus("a")], maintenance: vec![record], ..Default::default() };
        let issues = grid.validate();
        assert_eq!(
            issues.iter().map(|i| (i.table, i.column)).collect::<Vec<_>>(),
            vec![(Table::Maintenance, "asset"), (Table::Maintenance, "cost")]
        );
    }

    #[test]
    fn ids_are_bounded_and_plain() {
        assert!(valid_id("bus-12:a_b.c"));
        assert!(!valid_id(""));
        assert!(!valid_id("bus 12"));
        assert!(!valid_id(&"x".repeat(MAX_ID_LEN + 1)));
    }
}
