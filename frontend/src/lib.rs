//! The WebAssembly entry point: makes the islands of the server-rendered page interactive.
//! Only the islands' code is in the browser bundle; everything else is HTML from the server.

#[allow(unused_imports)]
use app::*;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
